import { isDatabaseUnavailable } from '../../shared/database/database-errors.js';
import type { EventJobData } from '../../shared/queue/event-job.js';
import type { DeliveryResult } from '../delivery/delivery-result.js';
import type { ClaimedEvent, FinishedStatus } from './processing-store.js';

/**
 * How a run ends its event: what its finish writes (the status, the attempt's deliveries, the attempt given back or
 * not, what the event waits for) and how the run reports it once written (the job's wait, a Retry-After).
 */
export interface RunEnd {
  status: FinishedStatus;
  lastError: string | null;
  /** This attempt's deliveries, recorded with the finish (`delivery_attempts`). */
  results: DeliveryResult[];
  /** The attempt is given back (PENDING: the event only waited). */
  giveBackAttempt: boolean;
  /** Destinations the event waits for (paused, circuit open, rate limited). */
  heldFor: string[];
  /** PENDING: how long the job waits before it looks again. */
  waitMs?: number;
  /** PENDING: destinations a stopping worker did not start (the event goes back to the queue at once). */
  notStarted?: string[];
  /** PENDING: destinations not sent to because PostgreSQL did not answer what their delivery needed first. */
  databaseAway?: string[];
  /** FAILED or DEAD_LETTER: the latest Retry-After of the attempt's answers. */
  retryAfterMs?: number;
}

/** The claim a run held: what its finish's guard must find still in place (see ProcessingStore's FINISH). */
export interface ClaimIdentity {
  eventId: string;
  provider: string;
  eventType: string;
  replays: number;
  attempt: number;
  claimedAt: string;
  claimToken: string;
}

/** The claim a run holds, as its finish's guard checks it (and an {@link UnrecordedRun} carries it). */
export function claimIdentity(event: ClaimedEvent): ClaimIdentity {
  return {
    eventId: event.id,
    provider: event.provider,
    eventType: event.eventType,
    replays: event.replays,
    attempt: event.attempts,
    claimedAt: event.claimedAt,
    claimToken: event.claimToken,
  };
}

/**
 * A run that PostgreSQL did not let write what it did (unreachable past the reconnects, ~6 s): its job is delayed
 * ("database unavailable; the event waits without using an attempt") and carries this in its data (Redis) to its next
 * run. Without it, that run's claim (a new token) found the event PROCESSING under a claim it did not recognise, and
 * took it for a run cut off: on the last attempt it dead-lettered an event the destination had taken ("the worker
 * stopped during the last attempt"), before that it sent it a second time.
 * - `finish` and `end`: the run reached its end (its deliveries were made) and the finish was not written. The next
 *   run writes that finish first, under the old claim (ProcessingStore.refinish), and reports it as this run would
 *   have; only when the event is no longer that claim's (another run took it over, a replay) does it claim as usual.
 * - `claimToken` alone: the claim was not answered (its commit may have landed, the answer lost): the next run claims
 *   with the same token, so the claim recognises its own run and takes the event as it stands (same attempt, nothing
 *   sent yet) rather than as a takeover of an attempt made.
 */
export interface UnrecordedRun {
  claimToken: string;
  finish?: ClaimIdentity;
  end?: RunEnd;
}

/** A queue job's data as the worker reads and writes it: the ingress's, and what a run could not write (above). */
export interface WorkerJobData extends EventJobData {
  unrecorded?: UnrecordedRun;
}

/**
 * PostgreSQL did not take a run's claim or finish (`cause`: unreachable, read-only, shutting down): the job waits
 * without using an attempt, and carries {@link unrecorded} to its next run.
 */
export class RunNotRecordedError extends Error {
  readonly code = 'RUN_NOT_RECORDED';
  constructor(
    readonly unrecorded: UnrecordedRun,
    cause: unknown,
  ) {
    super(`database unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'RunNotRecordedError';
  }
}

/**
 * `write` (a claim or finish), or, when PostgreSQL did not take it (unreachable past the reconnects), a
 * {@link RunNotRecordedError} carrying `unrecorded()` to the job's next run. Other errors are thrown as they are.
 */
export async function recordedOrCarried<T>(write: Promise<T>, unrecorded: () => UnrecordedRun): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (isDatabaseUnavailable(error)) throw new RunNotRecordedError(unrecorded(), error);
    throw error;
  }
}
