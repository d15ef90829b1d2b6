import pg from 'pg';

/** A statement sent on one of the tracked sessions whose answer has not come yet, and when it was sent. */
export interface StatementInFlight {
  text: string;
  sentAt: number;
}

/**
 * The statements the migrations' sessions have sent and await answers to, through a pg.Client class for their pool
 * (pg-pool's `Client` option, which TypeORM's `extra` passes on). When PostgreSQL goes silent under the migrations, the
 * index-build watchdog notices it with a check of its own on the lock session, and the start's line quoted that check
 * ("SELECT pid, query FROM pg_stat_activity …", "SELECT 1"): an operator read the watchdog's statement, not the
 * migration statement that was waiting. {@link oldest} is the one to name.
 */
export class StatementsInFlight {
  private readonly waiting = new Set<StatementInFlight>();

  /** A pg.Client whose promise-style queries are tracked here (callback-style and submittable ones are passed on). */
  clientClass(): typeof pg.Client {
    const waiting = this.waiting;
    const query = pg.Client.prototype.query as unknown as (this: pg.Client, ...args: unknown[]) => unknown;
    class TrackedClient extends pg.Client {}
    (TrackedClient.prototype as unknown as { query: unknown }).query = function (this: pg.Client, ...args: unknown[]): unknown {
      const result = query.apply(this, args);
      const first = args[0] as { text?: unknown } | string | undefined;
      const text = typeof first === 'string' ? first : typeof first?.text === 'string' ? first.text : undefined;
      if (text !== undefined && result instanceof Promise) {
        const entry: StatementInFlight = { text, sentAt: Date.now() };
        waiting.add(entry);
        const done = () => void waiting.delete(entry);
        result.then(done, done);
      }
      return result;
    };
    return TrackedClient;
  }

  /** The statement that has waited longest for its answer, if any does. */
  oldest(): StatementInFlight | undefined {
    let oldest: StatementInFlight | undefined;
    for (const entry of this.waiting) if (!oldest || entry.sentAt < oldest.sentAt) oldest = entry;
    return oldest;
  }
}
