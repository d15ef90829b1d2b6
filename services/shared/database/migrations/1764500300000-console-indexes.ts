import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently, dropIndexConcurrently } from './build-index-concurrently.js';

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
 * Built CONCURRENTLY, outside a transaction ({@link buildIndexConcurrently}: a failed build is redone).
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
    for (const [name, definition] of this.indexes) await buildIndexConcurrently(queryRunner, name, definition);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const [name] of [...this.indexes].reverse()) await dropIndexConcurrently(queryRunner, name);
  }
}
