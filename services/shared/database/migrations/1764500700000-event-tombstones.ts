import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The replay keys of the events retention deleted, with the deleted event's id. A replay key is what a provider's
 * signature covers when no signed timestamp bounds a replay (the SHA-256 of a GitHub or `hmac` body) or when it does
 * not cover the id (a PayPal transmission id). Such a signature never expires: a captured delivery stays valid until
 * the secret is rotated, and only its stored key makes its re-send a duplicate. Without this table, a delivery re-sent
 * after its event's retention would be a new event.
 *
 * Written by retention in the statement that deletes the events; read by the ingest's insert; expired after
 * RETENTION_TOMBSTONE_DAYS through the deleted_at index. A new, empty table: plain CREATE INDEX, in the transaction.
 */
export class EventTombstones1764500700000 implements MigrationInterface {
  name = 'EventTombstones1764500700000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE webhook_event_tombstones (
        provider   text NOT NULL,
        replay_key text NOT NULL,
        event_id   uuid NOT NULL,
        deleted_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_webhook_event_tombstones PRIMARY KEY (provider, replay_key)
      )`);
    await queryRunner.query(`CREATE INDEX ix_webhook_event_tombstones_deleted_at ON webhook_event_tombstones (deleted_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE webhook_event_tombstones`);
  }
}
