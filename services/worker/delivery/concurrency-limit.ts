/** Gives a slot back; calling it more than once gives it back once. */
export type ReleaseSlot = () => void;

/**
 * A counting semaphore: at most `limit` holders at once; the others wait, first come first served. One per
 * destination, so waiting for one destination's slot never holds up another destination.
 */
export class ConcurrencyLimit {
  private held = 0;
  private readonly waiters: { resolve: (release: ReleaseSlot) => void; reject: (error: Error) => void }[] = [];
  /** Set once {@link refuse} was called: every later acquire fails with it. */
  private refusal?: Error;

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
  }

  /** Slots held now. */
  get active(): number {
    return this.held;
  }

  /** Callers waiting for a slot now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Resolves with the release function once a slot is held (at once when one is free); rejects with the refusal's
   * error once {@link refuse} was called, before or while it waits.
   */
  acquire(): Promise<ReleaseSlot> {
    if (this.refusal) return Promise.reject(this.refusal);
    if (this.held < this.limit) {
      this.held++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /**
   * Hands out no more slots: every caller waiting now, and every later one, is rejected with `error`. The slots held
   * stay held until released. A stopping worker lets the deliveries it started finish, and starts no other.
   */
  refuse(error: Error): void {
    this.refusal ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.refusal);
  }

  /** Runs `task` holding a slot; the slot is given back however the task ends. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await task();
    } finally {
      release();
    }
  }

  private releaser(): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter (the count stays), so no newcomer can overtake it.
      if (next) next.resolve(this.releaser());
      else this.held--;
    };
  }
}
