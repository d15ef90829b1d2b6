import { describe, expect, it } from '@jest/globals';
import { VerificationFailureLimiter } from '../../services/ingress/ingest/verification-failure-limiter.js';

describe('VerificationFailureLimiter', () => {
  it('counts recorded failures per client', () => {
    const limiter = new VerificationFailureLimiter({ limit: 3, windowMs: 60_000, now: () => 0 });
    const a = VerificationFailureLimiter.keyFor('10.0.0.1');
    const b = VerificationFailureLimiter.keyFor('10.0.0.2');
    expect([1, 2, 3, 4].map(() => limiter.recordFailure(a))).toEqual([1, 2, 3, 4]);
    expect(limiter.recordFailure(b)).toBe(1);
  });

  it('forgets failures when the window ends', () => {
    let now = 1_000;
    const limiter = new VerificationFailureLimiter({ limit: 1, windowMs: 60_000, now: () => now });
    const key = VerificationFailureLimiter.keyFor('192.0.2.7');
    limiter.recordFailure(key);
    expect(limiter.secondsToReset()).toBe(60);
    now += 59_999;
    expect(limiter.recordFailure(key)).toBe(2);
    now += 1;
    expect(limiter.recordFailure(key)).toBe(1);
    expect(limiter.secondsToReset()).toBe(60);
  });

  it('groups IPv6 clients by /56, as express-rate-limit does', () => {
    expect(VerificationFailureLimiter.keyFor('2001:db8:abcd:12ff::1')).toBe(VerificationFailureLimiter.keyFor('2001:db8:abcd:1200::2'));
    expect(VerificationFailureLimiter.keyFor(undefined)).toBe('unknown');
  });
});
