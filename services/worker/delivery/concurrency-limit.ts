/** Gives a slot back; calling it more than once gives it back once. */
export type ReleaseSlot = () => void;

/**
 * A counting semaphore: at most `limit` holders at once; the others wait, first come first served. One per
 * destination, so waiting for one destination's slot never holds up another destination.
 */
export class ConcurrencyLimit {
  private held = 0;
  private readonly waiters: ((release: ReleaseSlot) => void)[] = [];

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

  /** Resolves with the release function once a slot is held (at once when one is free). */
  acquire(): Promise<ReleaseSlot> {
    if (this.held < this.limit) {
      this.held++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => this.waiters.push(resolve));
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
      if (next) next(this.releaser());
      else this.held--;
    };
  }
}
