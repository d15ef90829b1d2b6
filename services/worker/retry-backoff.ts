import type { Job } from 'bullmq';

/**
 * A job's backoff between failed attempts, as BullMQ applies it: `exponential` doubles `base` with each attempt
 * (`fixed` keeps it), and `jitter` (0–1) lets BullMQ pick anything from (1 − jitter) × to 1 × that delay.
 */
export interface RetryBackoff {
  exponential: boolean;
  base: number;
  jitter: number;
}

export function retryBackoffOf(job: Pick<Job, 'opts'>): RetryBackoff {
  const backoff = job.opts.backoff;
  // BullMQ takes a bare number as a fixed delay.
  if (typeof backoff === 'number') return { exponential: false, base: backoff, jitter: 0 };
  return {
    exponential: backoff?.type !== 'fixed',
    base: backoff?.delay ?? 0,
    jitter: Math.min(1, Math.max(0, backoff?.jitter ?? 0)),
  };
}

/** The longest delay before the next attempt once `attempts` attempts failed (BullMQ's own formula). */
function longestDelay(backoff: RetryBackoff, attempts: number): number {
  return backoff.exponential ? Math.round(2 ** Math.max(0, attempts - 1) * backoff.base) : backoff.base;
}

/**
 * The longest two attempts of one job may be apart when it has `attempts` in all: the delay before its last retry, at
 * its longest (0 when it has no retry).
 */
export function longestRetryGap(backoff: RetryBackoff, attempts: number): number {
  return attempts < 2 ? 0 : longestDelay(backoff, attempts - 1);
}

/** The shortest delay BullMQ may pick before the next attempt once `attempts` attempts failed. */
export function shortestRetryDelay(backoff: RetryBackoff, attempts: number): number {
  return longestDelay(backoff, attempts) * (1 - backoff.jitter);
}

/** A delay before the next attempt once `attempts` attempts failed, picked (jitter included) as BullMQ picks it. */
export function retryDelay(backoff: RetryBackoff, attempts: number): number {
  const longest = longestDelay(backoff, attempts);
  return Math.floor(Math.random() * longest * backoff.jitter + longest * (1 - backoff.jitter));
}
