import { isJobNoLongerHeld } from './lapsed-job-replacement.js';

/** BullMQ's error for each job whose lock its lock manager could not extend (lock-manager.ts, `extendLocks`). */
const RENEWAL_FAILED = /^could not renew lock for job /;

/**
 * Whether a worker error is BullMQ saying a job's lock is gone: a renewal refused ("could not renew lock for job …"),
 * or the end of a run refused because the job is no longer this worker's ("Missing lock for job … moveToFinished",
 * "moveToDelayed", a lock another worker now holds, a job no longer active or gone: see isJobNoLongerHeld).
 * After an outage longer than WORKER_LOCK_DURATION_MS (or an event-loop stall that long) every job running then
 * says so, once per renewal and once at its end: the expected aftermath, which the stalled check repairs (the job is
 * handed out again, and the run's claim in PostgreSQL keeps it from running twice), so it is counted, not a line each.
 */
export function isLostJobLock(error: unknown): boolean {
  if (isJobNoLongerHeld(error)) return true;
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && RENEWAL_FAILED.test(message);
}
