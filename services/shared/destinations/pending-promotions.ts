import type { Logger } from '../logging/logger.js';

export interface PendingPromotionsOptions {
  /** Told of each promotion that failed (at warn), and whether it is tried again. */
  logger: Logger;
  /** Tries after a failed one; 3 unless set. */
  retries?: number;
  /** The wait before the first of them, doubled before each next; 2 s unless set. */
  retryBaseMs?: number;
}

/** A promotion still to come or running; `cutShort` ends the wait for its retry at once (see settle). */
interface Pending {
  timer?: NodeJS.Timeout;
  cutShort?: () => void;
  done: Promise<unknown>;
}

/**
 * Promotions of waiting events' jobs started in the background (the one at once, and the one a moment later that
 * catches a job which was putting itself off meanwhile) and still to come or running. A drain waits for them
 * ({@link settle}) before it closes the pool and Redis: cut off or run against closed connections, they would be
 * lost, and nothing else promotes those jobs before their recheck (minutes).
 *
 * A promotion that fails (Redis stopped answering just after it took a resume) is logged and tried again a few times,
 * each after a longer wait: dropped, its events waited for their recheck (PAUSED_RECHECK_MS, 5 minutes) though Redis
 * was back seconds later. A drain does not wait out those waits: a retry waiting runs at once, and fails for good.
 */
export class PendingPromotions {
  private readonly pending = new Set<Pending>();
  private settling = false;

  constructor(private readonly options: PendingPromotionsOptions) {}

  /**
   * Runs `promote` after `delayMs` (at once: 0), and again after a failure (see the class); `fields` (the
   * destination) go with its log lines.
   */
  add(promote: () => Promise<unknown>, delayMs = 0, fields: Record<string, unknown> = {}): void {
    const entry: Pending = { done: Promise.resolve() };
    entry.done = this.wait(entry, delayMs)
      .then(() => this.run(entry, promote, fields))
      // Logged in run(); nothing is left to report.
      .catch(() => undefined);
    this.pending.add(entry);
    void entry.done.finally(() => this.pending.delete(entry));
  }

  /**
   * Waits for every promotion added so far, each at its time (its timer now holds the process until then); a retry
   * waiting runs at once, and is not tried again should it fail.
   */
  async settle(): Promise<void> {
    this.settling = true;
    for (const entry of this.pending) {
      if (entry.cutShort) entry.cutShort();
      else entry.timer?.ref();
    }
    await Promise.all([...this.pending].map((entry) => entry.done));
  }

  private async run(entry: Pending, promote: () => Promise<unknown>, fields: Record<string, unknown>): Promise<void> {
    const retries = this.options.retries ?? 3;
    const baseMs = this.options.retryBaseMs ?? 2000;
    for (let attempt = 1; ; attempt++) {
      try {
        await promote();
        return;
      } catch (error) {
        if (attempt > retries || this.settling) {
          this.options.logger.warn('could not promote waiting events; they wait for their recheck', { ...fields, attempt, error });
          return;
        }
        const retryInMs = baseMs * 2 ** (attempt - 1);
        this.options.logger.warn('could not promote waiting events; trying again', { ...fields, attempt, retryInMs, error });
        await this.retryWait(entry, retryInMs);
      }
    }
  }

  /** The wait before a promotion's first try: unref'd while the process runs (a promotion a moment away does not keep a process that ends for another reason). */
  private wait(entry: Pending, ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      entry.timer = setTimeout(resolve, ms);
      if (!this.settling) entry.timer.unref();
    });
  }

  /** The wait before a retry: unref'd like the first, and cut short by {@link settle}. */
  private retryWait(entry: Pending, ms: number): Promise<void> {
    if (this.settling) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms).unref();
      function done() {
        clearTimeout(timer);
        entry.cutShort = undefined;
        resolve();
      }
      entry.cutShort = done;
    });
  }
}
