/**
 * Which worker errors the worker counts as lost job locks (one summary line) and which stay a line each: only
 * BullMQ's reports of a job this worker no longer holds; anything else may be a real fault and is logged on its own.
 */
import { describe, expect, it } from '@jest/globals';
import { ErrorCode } from 'bullmq';
import { isLostJobLock } from '../../services/worker/lost-job-lock.js';

const coded = (message: string, code: number) => Object.assign(new Error(message), { code });

describe('isLostJobLock', () => {
  it('counts the renewals and the ends BullMQ refuses because the lock is gone', () => {
    expect(
      [
        new Error('could not renew lock for job 42'),
        coded('Missing lock for job 42. moveToFinished', ErrorCode.JobLockNotExist),
        coded('Missing lock for job 42. moveToDelayed', ErrorCode.JobLockNotExist),
        coded('Lock mismatch for job 42. Cmd moveToFinished from active', ErrorCode.JobLockMismatch),
        coded('Job 42 is not in the active state. moveToFinished', ErrorCode.JobNotInState),
        coded('Missing key for job 42. moveToFinished', ErrorCode.JobNotExist),
      ].map(isLostJobLock),
    ).toEqual([true, true, true, true, true, true]);
  });

  it('leaves every other worker error a line of its own', () => {
    expect(
      [
        coded('Missing key for parent job bull:q:1. moveToFinished', ErrorCode.ParentJobNotExist),
        coded('Unknown code -99 error for 42. moveToFinished', -99),
        new Error('NOSCRIPT No matching script'),
        new Error('Missing lock for job 42. moveToFinished'), // the wording without BullMQ's code: not BullMQ's
        undefined,
      ].map(isLostJobLock),
    ).toEqual([false, false, false, false, false]);
  });
});
