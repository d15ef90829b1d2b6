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
  /**
   * A pass that failed (rejected or threw), to be logged: the next pass (or the next worker's start) does what it left.
   * If it throws itself, that is dropped: the passes go on.
   */
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
 *
 * Each start() begins a chain of its own and ends any earlier one (stop() ends it too): a chain schedules its next pass
 * only while it is still the current one, so a start() while an earlier stop() waits for its pass (or a second start())
 * leaves one chain, not two. The new chain's first pass still waits for a pass in progress to end, even at a first
 * delay of 0, and then runs only if its chain is still current; a stop() waits for both. That earlier pass, reading
 * `stopping` after the start(), sees false and carries on as a pass of the new chain would.
 */
export class ScheduledPasses {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;
  /** The current chain: start() and stop() each move it on, so an earlier chain sees it is no longer current. */
  private chain = 0;

  constructor(private readonly options: ScheduledPassesOptions) {}

  /** True from stop() on: a long pass checks it between its steps. */
  get stopping(): boolean {
    return this.stopped;
  }

  start(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stopped = false;
    const chain = ++this.chain;
    const current = () => chain === this.chain;
    const delays = this.options.delaysMs[Symbol.iterator]();
    let first = true;
    const schedule = () => {
      const next = delays.next();
      if (next.done) return;
      const atOnce = first && next.value <= 0;
      first = false;
      const run = () => {
        this.timer = undefined;
        // Called in the executor, a pass that throws instead of rejecting is reported like a rejected one (not thrown
        // out of start() or a timer, ending the chain), and a pass of delay 0 still starts inside start().
        const pass = () => new Promise((resolve) => resolve(this.options.pass())).catch((error: unknown) => this.reportFailed(error));
        // A pass of an earlier chain still in progress (a start() while a stop() waits for it): this one waits for it.
        const before = this.running;
        const running: Promise<unknown> = (before ? before.then(() => (current() ? pass() : undefined)) : pass()).finally(() => {
          if (this.running === running) this.running = undefined;
          if (current()) schedule();
        });
        this.running = running;
      };
      if (atOnce) run();
      else this.timer = setTimeout(run, next.value).unref();
    };
    schedule();
  }

  private reportFailed(error: unknown): void {
    try {
      this.options.onError(error);
    } catch {
      // Reporting the failure failed too (a logger closed or throwing): there is nowhere left to report it, and it must
      // neither end the passes nor reject the drain waiting for this one.
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.chain += 1;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) {
      this.options.onWaitAtStop?.();
      await this.running;
    }
  }
}
