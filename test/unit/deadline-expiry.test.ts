import { describe, expect, it } from '@jest/globals';
import { DeadlineExceededError, failureSignal, untilInterrupted, withinDeadline } from '../../services/worker/delivery/deadline.js';

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

describe('untilInterrupted', () => {
  it("is the work's outcome, or the first interruption: a signal's failure, or the expiry's error", async () => {
    const [down, blocked] = [failureSignal(), failureSignal()];
    await expect(untilInterrupted(Promise.resolve('confirmed'), [down, blocked])).resolves.toBe('confirmed');

    const waiting = untilInterrupted(new Promise(() => undefined), [down, blocked]);
    blocked.fail(new Error('blocked: low on memory'));
    await expect(waiting).rejects.toThrow('blocked: low on memory');
    // A signal that failed already interrupts at once.
    await expect(untilInterrupted(new Promise(() => undefined), [blocked, down])).rejects.toThrow('blocked: low on memory');

    const expiry = new AbortController();
    const expiring = untilInterrupted(new Promise(() => undefined), [failureSignal()], expiry.signal, () => new Error('not sent: write buffer full'));
    expiry.abort(new Error('deadline'));
    await expect(expiring).rejects.toThrow('not sent: write buffer full');
  });

  it('a failure of the work after an interruption ended the wait is handled (no unhandled rejection)', async () => {
    const down = failureSignal();
    let failLate!: (error: Error) => void;
    const interrupted = untilInterrupted(new Promise<string>((_, reject) => (failLate = reject)), [down]);
    down.fail(new Error('connection lost'));
    await expect(interrupted).rejects.toThrow('connection lost');
    failLate(new Error('channel closed'));
    await new Promise((resolve) => setImmediate(resolve));
  });
});
