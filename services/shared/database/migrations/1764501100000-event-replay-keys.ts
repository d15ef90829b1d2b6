import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The replay keys of an event's later deliveries: a PayPal transmission that re-delivered a stored event (PayPal's
 * own retry, with a new transmission id) and was answered as a duplicate. PayPal's signature binds the body only
 * through CRC32, so a transmission must carry one event, ever; the event's own `replay_key` holds only the
 * transmission that created it, and without this table a retry's transmission id would be free for another body
 * built to the same CRC32.
 *
 * Written by the ingest's lookup of duplicates; read by its insert. Its rows go with their event: retention moves
 * them into webhook_event_tombstones in the statement that deletes the event (the cascade removes them here), so
 * they then expire with the event's own tombstone. A new, empty table: plain CREATE INDEX, in the transaction.
 */
export class EventReplayKeys1764501100000 implements MigrationInterface {
  name = 'EventReplayKeys1764501100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE webhook_event_replay_keys (
        provider   text NOT NULL,
        replay_key text NOT NULL,
        event_id   uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_webhook_event_replay_keys PRIMARY KEY (provider, replay_key)
      )`);
    // The cascade and retention's move into tombstones find an event's keys by its id.
    await queryRunner.query(`CREATE INDEX ix_webhook_event_replay_keys_event_id ON webhook_event_replay_keys (event_id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE webhook_event_replay_keys`);
  }
}
