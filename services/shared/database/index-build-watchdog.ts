import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import { DatabaseSilentError } from './database-silent-error.js';
import { describeOpenTransactions } from './open-transactions.js';
import { queryStartSession } from './start-session-query.js';

/** Why the watchdog cancelled a migration statement, what it was, and whom it waited for. */
export interface CancelledMigrationStatement {
  reason: 'deadline' | 'abort';
  statement: string;
  blockers: string[];
}

/** How often, once past the deadline or aborted, the watchdog looks again for a statement to cancel. */
const RECHECK_MS = 250;

/**
 * How often, with no deadline (STARTUP_WAIT_MS=0), the watchdog asks whether PostgreSQL still answers. Each check
 * waits START_ANSWER_WAIT_MS for its answer, so a silence ends the run at most about this plus that after it began.
 */
const SILENCE_CHECK_MS = 1000;

/**
 * Bounds, from the migrations' lock session, the waits their own sessions cannot: a CONCURRENTLY index statement runs
 * with no lock_timeout (build-index-concurrently.ts) and waits for every older transaction of the database, for as
 * long as a backup's runs. From `deadline` on, such a statement waiting on a lock is cancelled (pg_cancel_backend)
 * as soon as it waits: the build's scan, which is work rather than a wait, is left to finish. Once `abort` fires,
 * every statement the migrations run is cancelled, so nothing is left waiting in PostgreSQL after the process exits
 * (a backend in a lock wait does not notice its client is gone). A cancelled build leaves an invalid index, which the
 * next run drops and builds again.
 *
 * Its checks also tell a PostgreSQL gone silent from a statement that runs long: the migrations' own statements wait
 * for their answers with no bound (an index build may run for long), so a frozen primary or a proxy that stopped
 * forwarding held them for ever, past the deadline, with no line. A check of its own, past the deadline (with none,
 * throughout, every second), that gets no answer (start-session-query.ts) rejects {@link silent}; a long build's
 * checks are answered, and it goes on.
 *
 * Only this process migrates while it holds the advisory lock, so every `migrations` session of the database is its
 * own, or one of a process that died mid-build and whose statement would hold up this one anyway.
 */
export class IndexBuildWatchdog {
  /** The first statement cancelled, once one was. */
  cancelled: CancelledMigrationStatement | undefined;
  /** Rejects with DatabaseSilentError once a check gets no answer in time: PostgreSQL went silent. Never resolves. */
  readonly silent: Promise<never>;
  private readonly stopped = new AbortController();
  private readonly watching: Promise<void>;

  constructor(
    private readonly lockSession: pg.Client,
    private readonly options: { deadline: number | undefined; abort?: AbortSignal },
  ) {
    let reportSilence: (error: DatabaseSilentError) => void = () => undefined;
    this.silent = new Promise<never>((_resolve, reject) => (reportSilence = reject));
    this.silent.catch(() => undefined); // raced by the migrations; never an unhandled rejection on its own
    this.watching = this.watch().catch((error: unknown) => {
      if (error instanceof DatabaseSilentError) reportSilence(error);
    });
  }

  /** Stops watching, once the migrations are over (waits for a check under way, which uses the lock session). */
  async stop(): Promise<void> {
    this.stopped.abort();
    await this.watching;
  }

  private async watch(): Promise<void> {
    const { deadline, abort } = this.options;
    const wake = AbortSignal.any([this.stopped.signal, ...(abort ? [abort] : [])]);
    if (deadline === undefined) {
      // No deadline (STARTUP_WAIT_MS=0: nothing is waited for, and what runs the migrations bounds their waits for
      // other sessions): nothing is cancelled until the abort, but silence is not a wait for another session. Found,
      // with no deadline nothing was checked, and a PostgreSQL gone silent once the lock was taken held the run for
      // ever; asked throughout, an unanswered check ends it (DatabaseSilentError).
      while (!wake.aborted) {
        await delay(SILENCE_CHECK_MS, undefined, { signal: wake }).catch(() => undefined);
        if (!wake.aborted) await queryStartSession(this.lockSession, 'SELECT 1');
      }
    } else {
      // Until the deadline, only the abort or the end of the migrations wakes it.
      await new Promise<void>((resolve) => {
        if (wake.aborted) return resolve();
        wake.addEventListener('abort', () => resolve(), { once: true });
        setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
      });
    }
    while (!this.stopped.signal.aborted) {
      await this.cancelWaitingStatements(abort?.aborted ? 'abort' : 'deadline');
      await delay(RECHECK_MS, undefined, { signal: this.stopped.signal }).catch(() => undefined);
    }
  }

  private async cancelWaitingStatements(reason: CancelledMigrationStatement['reason']): Promise<void> {
    // Bounded answers (start-session-query.ts): a silent PostgreSQL must not hold stop(), awaited when migrations end.
    const { rows } = await queryStartSession<{ pid: number; query: string }>(
      this.lockSession,
      `SELECT pid, query FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'migrations' AND state = 'active' AND pid <> pg_backend_pid()
          AND ($1 OR (wait_event_type = 'Lock' AND query ~* '^\\s*(create(\\s+unique)?|drop)\\s+index\\s+concurrently'))`,
      [reason === 'abort'],
    );
    if (rows.length === 0 || this.stopped.signal.aborted) return;
    // Who it waits for, read before the cancel ends the wait.
    const blockers = this.cancelled ? [] : await describeOpenTransactions(this.lockSession).catch(() => []);
    this.cancelled ??= { reason, statement: rows[0]!.query.replace(/\s+/g, ' ').trim().slice(0, 200), blockers };
    for (const row of rows) await queryStartSession(this.lockSession, 'SELECT pg_cancel_backend($1)', [row.pid]);
  }
}
