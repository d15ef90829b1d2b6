import { describe, expect, it } from '@jest/globals';
import { VerificationFailureLimiter } from '../../services/ingress/ingest/verification-failure-limiter.js';

describe('VerificationFailureLimiter', () => {
  it('counts only recorded failures, per client, and blocks once the limit is used up', () => {
    const limiter = new VerificationFailureLimiter({ limit: 3, windowMs: 60_000, now: () => 0 });
    const a = VerificationFailureLimiter.keyFor('10.0.0.1');
    const b = VerificationFailureLimiter.keyFor('10.0.0.2');
    // Any number of requests that did not fail (in flight, accepted, or aborted by their client) cost nothing.
    for (let i = 0; i < 1000; i++) expect(limiter.isBlocked(a)).toBe(false);
    limiter.recordFailure(a);
    limiter.recordFailure(a);
    expect(limiter.remaining(a)).toBe(1);
    limiter.recordFailure(a);
    expect(limiter.isBlocked(a)).toBe(true);
    expect(limiter.isBlocked(b)).toBe(false);
  });

  it('forgets failures when the window ends', () => {
    let now = 1_000;
    const limiter = new VerificationFailureLimiter({ limit: 1, windowMs: 60_000, now: () => now });
    const key = VerificationFailureLimiter.keyFor('192.0.2.7');
    limiter.recordFailure(key);
    expect(limiter.isBlocked(key)).toBe(true);
    expect(limiter.secondsToReset()).toBe(60);
    now += 59_999;
    expect(limiter.isBlocked(key)).toBe(true);
    now += 1;
    expect(limiter.isBlocked(key)).toBe(false);
    expect(limiter.secondsToReset()).toBe(60);
  });

  it('groups IPv6 clients by /56, as express-rate-limit does', () => {
    expect(VerificationFailureLimiter.keyFor('2001:db8:abcd:12ff::1')).toBe(VerificationFailureLimiter.keyFor('2001:db8:abcd:1200::2'));
    expect(VerificationFailureLimiter.keyFor(undefined)).toBe('unknown');
  });
});
