export interface PassesAfterStartOptions {
  /**
   * When the passes run: the first this long after start, each next one this long after the previous one ended. A 0
   * runs at once, inside start(), not on a timer: a drain right after the start still waits for that pass.
   */
  delaysMs: readonly number[];
  /** One pass. It may read `stopping` to end early; a drain waits for it to settle. */
  pass: () => Promise<unknown>;
  /** A pass that failed: logged by the caller; the next pass (or the next worker's start) does what it left. */
  onError: (error: unknown) => void;
  /** Said when stop() has to wait for a pass in progress, so that a drain which takes long says why. */
  onWaitAtStop?: () => void;
}

/**
 * A few passes at fixed delays after a worker starts (not a periodic job): the worker's start does the work once, and
 * once more after a delay, for what a worker of the rollout's previous version did meanwhile.
 *
 * stop() clears the passes still to come and waits for the one in progress: a drain closes the pool and Redis only
 * after it, so a pass never runs against closed connections (a spurious warning, work cut off mid-way).
 */
export class PassesAfterStart {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;

  constructor(private readonly options: PassesAfterStartOptions) {}

  /** True from stop() on: a long pass checks it between its steps. */
  get stopping(): boolean {
    return this.stopped;
  }

  start(): void {
    this.stopped = false;
    const delays = [...this.options.delaysMs];
    const schedule = () => {
      const delayMs = delays.shift();
      if (delayMs === undefined) return;
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
      if (delayMs <= 0) run();
      else this.timer = setTimeout(run, delayMs).unref();
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
