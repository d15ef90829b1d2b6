import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the event console's queries need to stay fast with millions of rows: every filter of the newest-first list
 * (status, provider, event type) reads its own index in (received_at, id) order, so a page costs a page of index
 * entries whatever the table holds; search by the provider's id is an index lookup; delivery attempts are found by
 * time (BRIN: the table is append-only in time order, so the index is a few pages and costs inserts nothing).
 *
 * The status indexes hold only unfinished and dead-lettered rows (`status <> 'COMPLETED'`): those are few, so they
 * stay small and cost a completed event nothing more; a COMPLETED filter reads the received_at (or provider) index,
 * where nearly every row is completed anyway.
 *
 * Built CONCURRENTLY, outside a transaction: a plain CREATE INDEX would hold off every insert (every webhook) for
 * as long as the build takes on a large table. A build that failed half-way leaves an invalid index behind; it is
 * dropped and built again.
 */
export class ConsoleIndexes1764500300000 implements MigrationInterface {
  name = 'ConsoleIndexes1764500300000';
  transaction = false;

  private readonly indexes: [name: string, definition: string][] = [
    ['ix_webhook_events_unfinished_received', `webhook_events (status, received_at DESC, id DESC) WHERE status <> 'COMPLETED'`],
    ['ix_webhook_events_unfinished_provider_received', `webhook_events (provider, status, received_at DESC, id DESC) WHERE status <> 'COMPLETED'`],
    ['ix_webhook_events_provider_received', 'webhook_events (provider, received_at DESC, id DESC)'],
    ['ix_webhook_events_type_received', 'webhook_events (event_type, received_at DESC, id DESC)'],
    ['ix_webhook_events_external_id', 'webhook_events (external_id)'],
    ['ix_delivery_attempts_at_brin', 'delivery_attempts USING brin (at)'],
  ];

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const [name, definition] of this.indexes) {
      const existing = (await queryRunner.query(
        `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`,
        [name],
      )) as { valid: boolean }[];
      if (existing[0]?.valid) continue;
      if (existing[0]) await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
      const [table, ...rest] = definition.split(' ');
      await queryRunner.query(`CREATE INDEX CONCURRENTLY ${name} ON ${table} ${rest.join(' ')}`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const [name] of [...this.indexes].reverse()) await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  }
}
