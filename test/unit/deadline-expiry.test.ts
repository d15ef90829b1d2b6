import { describe, expect, it } from '@jest/globals';
import { DeadlineExceededError, withinDeadline } from '../../services/worker/delivery/deadline.js';

describe('withinDeadline with an expiry controller', () => {
  it('aborts the work at the deadline, and the reason the work gives at once is the outcome', async () => {
    const expiry = new AbortController();
    // A publish still waiting to be written: it stops when told, saying why.
    const work = new Promise<never>((_, reject) => expiry.signal.addEventListener('abort', () => reject(new Error('not sent: write buffer full'))));
    await expect(withinDeadline(work, 20, expiry)).rejects.toThrow('not sent: write buffer full');
    expect(expiry.signal.reason).toBeInstanceOf(DeadlineExceededError);
  });

  it('work that does not answer the abort ends with the deadline’s error', async () => {
    const expiry = new AbortController();
    await expect(withinDeadline(new Promise(() => undefined), 20, expiry)).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(expiry.signal.aborted).toBe(true);
  });

  it('work that settles in time is not aborted', async () => {
    const expiry = new AbortController();
    await expect(withinDeadline(Promise.resolve('confirmed'), 1000, expiry)).resolves.toBe('confirmed');
    expect(expiry.signal.aborted).toBe(false);
  });
});
