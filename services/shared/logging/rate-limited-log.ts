/**
 * A log line for something that can happen on every request a client sends (a forger picks how often): the first
 * occurrence is written at once, the others of the same interval are only counted and written as one summary line
 * when the interval ends. Operators still see that it happens, how often, and one example of why, while a flood
 * cannot turn each of its requests into a log line (and a stack trace) of ours.
 */
export class RateLimitedLog {
  private windowEndsAt = 0;
  private suppressed = 0;
  private latest: Record<string, unknown> = {};
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param write writes one line; `fields` are those of the occurrence, plus `count` (occurrences the line stands
   *   for) and, on a summary line, `intervalSeconds`
   */
  constructor(
    private readonly write: (fields: Record<string, unknown>) => void,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** One occurrence, described by `fields` (the last ones of an interval describe its summary line). */
  note(fields: Record<string, unknown> = {}): void {
    const at = this.now();
    if (at >= this.windowEndsAt && this.suppressed === 0) {
      this.windowEndsAt = at + this.intervalMs;
      this.write({ ...fields, count: 1 });
      return;
    }
    this.suppressed++;
    this.latest = fields;
    // The summary is written when the interval ends, also if nothing happens after it (the flood stopped). The
    // timer must not keep a process that is otherwise done alive.
    this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.windowEndsAt - at));
    this.timer.unref();
  }

  /** Writes the summary of the interval now, if anything was counted (tests; shutdown). */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.suppressed === 0) return;
    const count = this.suppressed;
    this.suppressed = 0;
    // The summary opens the next interval: occurrences right after it are counted for the next summary.
    this.windowEndsAt = this.now() + this.intervalMs;
    this.write({ ...this.latest, count, intervalSeconds: Math.round(this.intervalMs / 1000) });
  }
}
