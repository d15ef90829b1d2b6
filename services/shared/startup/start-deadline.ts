/**
 * One start's STARTUP_WAIT_MS, shared by every wait of that start (PostgreSQL reachable, the migrations' locks and the
 * migrations other sessions hold up, Redis): all of them end by one moment, counted from when the start began. Each
 * wait used to get the whole budget from when it began, so a start that waited for PostgreSQL and then for another
 * process's migrations could last about twice STARTUP_WAIT_MS, past the startup probe (derived to outlast
 * STARTUP_WAIT_MS + 60 s), which then killed it with no line saying what it waited for.
 */
export class StartDeadline {
  /** When the start began (epoch ms). */
  readonly startedAt: number;

  /** `budgetMs`: STARTUP_WAIT_MS; 0 means "wait for nothing": each dependency is tried once. */
  constructor(
    readonly budgetMs: number,
    now = Date.now(),
  ) {
    this.startedAt = now;
  }

  /** The moment every wait ends by (epoch ms). */
  get at(): number {
    return this.startedAt + this.budgetMs;
  }

  /** What is left of the budget (0 once it is spent). */
  remainingMs(): number {
    return Math.max(0, this.at - Date.now());
  }

  /** How long the start has waited so far, for the line that says it gave up; 0 when it was not to wait (budget 0). */
  waitedMs(): number {
    return this.budgetMs > 0 ? Date.now() - this.startedAt : 0;
  }
}
