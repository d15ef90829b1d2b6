import type { DataSource } from 'typeorm';

/**
 * How far back each look reaches past the previous one: a replay's row is stamped with its transaction's start
 * (`now()`), which may come before the previous look although it committed after it, and this process's clock may
 * be behind PostgreSQL's. Rows within it are read again on the next look; the ids already seen are skipped.
 */
const OVERLAP_MS = 120_000;

/**
 * The replays recorded in `overview_invalidations` (written by each replay's own statement, in
 * EventAdminService) that this process has not seen yet: what tells an overview, in any process, which of the
 * minutes it keeps a replay has changed since it read them.
 *
 * Why in PostgreSQL: the replay and its record commit together (no replay goes unrecorded when Redis or the
 * process fails half-way), and every process serving the overview (each ingress pod) reads the same record. A look
 * is one read of the index on `at`, returning the few rows of the last minutes.
 */
export class OverviewInvalidations {
  /** When the previous look began (this process's clock); undefined before the first. */
  private lookedAt?: number;
  /** Rows already taken into account, by id, with their `at` (forgotten once older than the overlap). */
  private readonly seen = new Map<string, number>();

  constructor(private readonly dataSource: DataSource) {}

  /**
   * The earliest time from which a replay recorded since the previous look may have changed the counts (ms since
   * the epoch); undefined when there is none. The first look only marks the start: nothing was read before it.
   * Call it before reading the counts: a replay it misses committed after it began, and the next look finds it.
   */
  async staleSince(): Promise<number | undefined> {
    const startedAt = Date.now();
    const previous = this.lookedAt;
    this.lookedAt = startedAt;
    const since = new Date((previous ?? startedAt) - OVERLAP_MS);
    const rows: { id: string; at: Date; stale_from: Date }[] = await this.dataSource.query(
      `SELECT id::text AS id, at, stale_from FROM overview_invalidations WHERE at >= $1 ORDER BY id`,
      [since],
    );
    let staleFrom: number | undefined;
    for (const row of rows) {
      if (this.seen.has(row.id)) continue;
      this.seen.set(row.id, row.at.getTime());
      // On the first look every row is taken as seen: the counts are all read after it anyway.
      if (previous !== undefined) staleFrom = Math.min(staleFrom ?? Number.POSITIVE_INFINITY, row.stale_from.getTime());
    }
    for (const [id, at] of this.seen) if (at < since.getTime()) this.seen.delete(id);
    return staleFrom;
  }
}
