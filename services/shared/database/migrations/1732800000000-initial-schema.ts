import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Events (one row per provider + external id: the idempotency guard) and their delivery attempts. */
export class InitialSchema1732800000000 implements MigrationInterface {
  name = 'InitialSchema1732800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE webhook_events (
        id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        provider       text NOT NULL,
        external_id    text NOT NULL,
        event_type     text NOT NULL,
        payload        jsonb NOT NULL,
        raw_body       bytea NOT NULL,
        content_type   text NOT NULL,
        headers        jsonb NOT NULL DEFAULT '{}'::jsonb,
        status         text NOT NULL DEFAULT 'PENDING'
                       CHECK (status IN ('PENDING','PROCESSING','COMPLETED','FAILED','DEAD_LETTER')),
        attempts       integer NOT NULL DEFAULT 0,
        last_error     text,
        correlation_id text,
        trace_id       text,
        traceparent    text,
        -- Set when a COMPLETED event is replayed: deliveries before it no longer count as done.
        replayed_at    timestamptz,
        received_at    timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_webhook_events_provider_external_id UNIQUE (provider, external_id)
      )`);
    // The reconciler looks for stranded events by status and age; the admin API lists newest first.
    await queryRunner.query(`CREATE INDEX ix_webhook_events_status_updated ON webhook_events (status, updated_at)`);
    await queryRunner.query(`CREATE INDEX ix_webhook_events_received ON webhook_events (received_at DESC, id DESC)`);
    await queryRunner.query(`
      CREATE TABLE delivery_attempts (
        id          bigserial PRIMARY KEY,
        event_id    uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
        destination text NOT NULL,
        attempt     integer NOT NULL,
        succeeded   boolean NOT NULL,
        status_code integer,
        error       text,
        duration_ms integer NOT NULL,
        at          timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX ix_delivery_attempts_event ON delivery_attempts (event_id, at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE delivery_attempts`);
    await queryRunner.query(`DROP TABLE webhook_events`);
  }
}
