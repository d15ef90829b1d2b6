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
 * A check run once a waiting event's job is in the delayed set, with what promotes that job (true when it did: false
 * when the job was no longer delayed). See {@link EventWaitingError.onceDelayed}.
 */
export type OnceDelayed = (promote: () => Promise<boolean>) => Promise<void>;

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
    /**
     * Run once the job is delayed (not when the delay did not happen): whatever the event waited for may have
     * changed while its job was on its way there, after those who promote waiting events had looked for it (see
     * DestinationGuard.promoteIfProbeFree).
     */
    readonly onceDelayed?: OnceDelayed,
  ) {
    super(message);
    this.name = 'EventWaitingError';
  }
}
