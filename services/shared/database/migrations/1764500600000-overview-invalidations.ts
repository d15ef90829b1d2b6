import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `overview_invalidations`: one row per replay, written by the replay's own statement, saying from when
 * (`stale_from`: the earliest time one of its events had finished) the per-minute counts of finished events may
 * have changed. The admin overview keeps minutes it has read; every process serving it reads the rows added since it
 * last looked and reads those minutes again (services/admin/overview-invalidations.ts). Rows older than the
 * overview's window are of no use and are deleted by later replays.
 */
export class OverviewInvalidations1764500600000 implements MigrationInterface {
  name = 'OverviewInvalidations1764500600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS overview_invalidations (
         id bigserial PRIMARY KEY,
         at timestamptz NOT NULL DEFAULT now(),
         stale_from timestamptz NOT NULL)`,
    );
    await queryRunner.query(`CREATE INDEX IF NOT EXISTS ix_overview_invalidations_at ON overview_invalidations (at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS overview_invalidations`);
  }
}
