import type { Logger } from '../../shared/logging/logger.js';

/** What the check needs of a connection: the `duplicate_window` of one of its server's streams, in ms. */
export interface DuplicateWindowSource {
  readonly url: string;
  duplicateWindowMs(stream: string): Promise<number>;
}

/**
 * Warns, once per stream, when a stream that acked a delivery deduplicates re-sends (`Nats-Msg-Id`) over a shorter
 * `duplicate_window` than the worker's retries of one event may be apart: a retry after a lost ack (a timeout, a
 * broken connection) that comes later than the window stores the message a second time. The README documents the
 * window against the backoff; this says it where an operator looks, naming the stream and both durations, instead of
 * leaving it to be found as duplicates in the stream. The window is read from the stream's info on its first ack
 * (JetStream API `STREAM.INFO`); a user not allowed to read it is not warned about (said once, at debug).
 */
export class DuplicateWindowCheck {
  /** `url \0 stream` → its check (two servers may each have a stream of one name). */
  private readonly checks = new Map<string, Promise<void>>();

  constructor(
    /** The longest two attempts of one event may be apart (0: no retries, nothing to check). */
    private readonly longestRetryGapMs: number,
    private readonly logger: Logger,
  ) {}

  /** After an ack from `stream`: checks its window, the first time only (not waited for by the publish). */
  afterAck(source: DuplicateWindowSource, stream: string, destination: string): void {
    if (this.longestRetryGapMs <= 0) return;
    const key = `${source.url}\u0000${stream}`;
    if (!this.checks.has(key)) this.checks.set(key, this.check(source, stream, destination));
  }

  /** Settles once every check started so far has (for tests and diagnostics). */
  async settled(): Promise<void> {
    await Promise.all(this.checks.values());
  }

  private async check(source: DuplicateWindowSource, stream: string, destination: string): Promise<void> {
    let windowMs: number;
    try {
      windowMs = await source.duplicateWindowMs(stream);
    } catch (error) {
      this.logger.debug("could not read a JetStream stream's duplicate_window; not checked against the retries", { stream, destination, error });
      return;
    }
    if (windowMs >= this.longestRetryGapMs) return;
    this.logger.warn(
      `JetStream stream "${stream}" deduplicates re-sends within ${seconds(windowMs)} (duplicate_window), but retries of one event may come ${seconds(this.longestRetryGapMs)} apart (JOB_BACKOFF_MS doubled up to JOB_ATTEMPTS): a retry after a lost ack later than the window is stored twice; give the stream a duplicate_window of at least ${seconds(this.longestRetryGapMs)}`,
      { stream, destination, duplicateWindowMs: windowMs, longestRetryGapMs: this.longestRetryGapMs },
    );
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
