/** A per-item failure in a flush's results: that item's caller is rejected with `error`, its neighbours are not. */
export class ItemFailure {
  constructor(readonly error: unknown) {}
}

/** Options for {@link MicroBatcher}. */
export interface MicroBatcherOptions<Item, Result> {
  /**
   * Handles a batch; must return one result per item, in order. A rejection fails every item of the batch;
   * an {@link ItemFailure} in the results fails only its own item.
   */
  flush: (items: Item[]) => Promise<(Result | ItemFailure)[]>;
  /** Largest batch handed to `flush`. */
  maxBatchSize: number;
  /** Batches in flight at once; further items wait and are gathered into the next batch. */
  maxConcurrentFlushes: number;
}

interface Pending<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers concurrent calls into batches ("group commit"): at low load each call is flushed on its own at the
 * end of the current event-loop turn (no added latency); under load, calls arriving while batches are in flight
 * are gathered into the next one, so many requests share one round trip.
 */
export class MicroBatcher<Item, Result> {
  private pending: Pending<Item, Result>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly options: MicroBatcherOptions<Item, Result>) {}

  /** Adds `item` to the next batch; resolves with its result once that batch is flushed. */
  submit(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting plus batches in flight; zero when idle. */
  get size(): number {
    return this.pending.length + this.inFlight;
  }

  /** Resolves once nothing is pending or in flight (used by graceful shutdown). */
  async drain(): Promise<void> {
    if (this.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.maxConcurrentFlushes) return;
    this.scheduled = true;
    // setImmediate runs after the poll phase: every request whose bytes arrived in this turn joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.flushNext();
    });
  }

  private flushNext(): void {
    while (this.pending.length > 0 && this.inFlight < this.options.maxConcurrentFlushes) {
      const batch = this.pending.splice(0, this.options.maxBatchSize);
      this.inFlight++;
      void this.run(batch);
    }
    this.notifyIfIdle();
  }

  private async run(batch: Pending<Item, Result>[]): Promise<void> {
    try {
      const results = await this.options.flush(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => {
        const result = results[index];
        if (result instanceof ItemFailure) entry.reject(result.error);
        else entry.resolve(result as Result);
      });
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    } finally {
      this.inFlight--;
      if (this.pending.length > 0) this.flushNext();
      else this.notifyIfIdle();
    }
  }

  private notifyIfIdle(): void {
    if (this.size !== 0) return;
    for (const waiter of this.idleWaiters.splice(0)) waiter();
  }
}
