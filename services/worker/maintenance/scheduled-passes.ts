export interface ScheduledPassesOptions {
  /**
   * When the passes run: the first this long after start, each next one this long after the previous one ended (passes
   * never overlap, and one waiting on a lock does not pile others up behind it); they end with the iterable. A first
   * delay of 0 runs the pass at once, inside start(), not on a timer: a drain right after the start still waits for
   * it. Later passes always go through a timer, so a pass that ends at once cannot starve the event loop.
   */
  delaysMs: Iterable<number>;
  /** One pass. It may read `stopping` to end early; a drain waits for it to settle. */
  pass: () => Promise<unknown>;
  /** A pass that failed, to be logged: the next pass (or the next worker's start) does what it left. */
  onError: (error: unknown) => void;
  /** Said when stop() has to wait for a pass in progress, so that a drain which takes long says why. */
  onWaitAtStop?: () => void;
}

/** Delays for a periodic pass: the first after `firstDelayMs`, then one every `intervalMs` after the previous ended. */
export function* repeating(firstDelayMs: number, intervalMs: number): Generator<number> {
  yield firstDelayMs;
  for (;;) yield intervalMs;
}

/**
 * The worker's background passes (the reconciler, retention, the pause resync, the passes after start): each runs
 * after the previous one ended, never two at once.
 *
 * stop() clears the passes still to come and waits for the one in progress: a drain closes the pool and Redis only
 * after it, so a pass never runs against closed connections (a spurious warning, work cut off mid-way).
 */
export class ScheduledPasses {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;

  constructor(private readonly options: ScheduledPassesOptions) {}

  /** True from stop() on: a long pass checks it between its steps. */
  get stopping(): boolean {
    return this.stopped;
  }

  start(): void {
    this.stopped = false;
    const delays = this.options.delaysMs[Symbol.iterator]();
    let first = true;
    const schedule = () => {
      const next = delays.next();
      if (next.done) return;
      const atOnce = first && next.value <= 0;
      first = false;
      const run = () => {
        this.timer = undefined;
        this.running = this.options
          .pass()
          .catch(this.options.onError)
          .finally(() => {
            this.running = undefined;
            if (!this.stopped) schedule();
          });
      };
      if (atOnce) run();
      else this.timer = setTimeout(run, next.value).unref();
    };
    schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) {
      this.options.onWaitAtStop?.();
      await this.running;
    }
  }
}
