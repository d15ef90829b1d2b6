/**
 * Promotions of waiting events' jobs started in the background (the one at once, and the one a moment later that
 * catches a job which was putting itself off meanwhile) and still to come or running. A drain waits for them
 * ({@link settle}) before it closes the pool and Redis: cut off or run against closed connections, they would be
 * lost, and nothing else promotes those jobs before their recheck (minutes).
 */
export class PendingPromotions {
  private readonly pending = new Set<{ timer?: NodeJS.Timeout; done: Promise<unknown> }>();

  /** Runs `promote` after `delayMs` (at once: 0); its errors are its own to report. */
  add(promote: () => Promise<unknown>, delayMs = 0): void {
    const entry: { timer?: NodeJS.Timeout; done: Promise<unknown> } = { done: Promise.resolve() };
    // Unref'd while the process runs: a promotion a moment away does not keep a process that ends for another reason.
    const waited = delayMs > 0 ? new Promise<void>((resolve) => (entry.timer = setTimeout(resolve, delayMs).unref())) : Promise.resolve();
    entry.done = waited.then(promote).catch(() => undefined);
    this.pending.add(entry);
    void entry.done.finally(() => this.pending.delete(entry));
  }

  /** Waits for every promotion added so far, each at its time (its timer now holds the process until then). */
  async settle(): Promise<void> {
    for (const entry of this.pending) entry.timer?.ref();
    await Promise.all([...this.pending].map((entry) => entry.done));
  }
}
