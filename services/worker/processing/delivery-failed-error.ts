/** An attempt in which at least one destination failed; BullMQ retries the job unless `final`. */
export class DeliveryFailedError extends Error {
  readonly code = 'DELIVERY_FAILED';
  constructor(
    message: string,
    /** True on the last attempt: the event is DEAD_LETTER and the job must not be retried. */
    readonly final: boolean,
    /**
     * The event's attempts so far, this one included (PostgreSQL's count, which decides DEAD_LETTER): the backoff
     * before the next grows with it.
     */
    readonly attempt: number,
    /** A destination's `Retry-After` (ms from now): the next attempt is not made before it. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'DeliveryFailedError';
  }
}

/**
 * An attempt that only waited: every destination left was paused, behind an open circuit or over its rate limit
 * (the others took the event and are recorded). The event is PENDING with its attempt given back; its job waits
 * `waitMs` (or until it is promoted) without using one of BullMQ's attempts either.
 */
export class EventWaitingError extends Error {
  readonly code = 'EVENT_WAITING';
  constructor(
    message: string,
    readonly waitMs: number,
  ) {
    super(message);
    this.name = 'EventWaitingError';
  }
}
