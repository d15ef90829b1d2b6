import { describe, expect, it } from '@jest/globals';
import { ClientFailureLimiter } from '../../services/shared/http/client-failure-limiter.js';

describe('ClientFailureLimiter', () => {
  it('counts recorded failures per client', () => {
    const limiter = new ClientFailureLimiter({ limit: 3, windowMs: 60_000, now: () => 0 });
    const a = ClientFailureLimiter.keyFor('10.0.0.1');
    const b = ClientFailureLimiter.keyFor('10.0.0.2');
    expect([1, 2, 3, 4].map(() => limiter.recordFailure(a))).toEqual([1, 2, 3, 4]);
    expect(limiter.recordFailure(b)).toBe(1);
  });

  it('forgets failures when the window ends', () => {
    let now = 1_000;
    const limiter = new ClientFailureLimiter({ limit: 1, windowMs: 60_000, now: () => now });
    const key = ClientFailureLimiter.keyFor('192.0.2.7');
    limiter.recordFailure(key);
    expect(limiter.secondsToReset()).toBe(60);
    now += 59_999;
    expect(limiter.recordFailure(key)).toBe(2);
    now += 1;
    expect(limiter.recordFailure(key)).toBe(1);
    expect(limiter.secondsToReset()).toBe(60);
  });

  it('tells whether a client has spent its budget without counting anything', () => {
    const limiter = new ClientFailureLimiter({ limit: 2, windowMs: 60_000, now: () => 0 });
    const key = ClientFailureLimiter.keyFor('10.0.0.9');
    expect([limiter.failuresOf(key), limiter.hasSpentBudget(key)]).toEqual([0, false]);
    limiter.recordFailure(key);
    expect([limiter.failuresOf(key), limiter.hasSpentBudget(key)]).toEqual([1, false]);
    limiter.recordFailure(key);
    // Its next failure would be answered 429: spent.
    expect([limiter.failuresOf(key), limiter.hasSpentBudget(key)]).toEqual([2, true]);
    expect(limiter.failuresOf(key)).toBe(2);
  });

  it('groups IPv6 clients by /56, as express-rate-limit does', () => {
    expect(ClientFailureLimiter.keyFor('2001:db8:abcd:12ff::1')).toBe(ClientFailureLimiter.keyFor('2001:db8:abcd:1200::2'));
    expect(ClientFailureLimiter.keyFor(undefined)).toBe('unknown');
  });

  it('keys an address a proxy wrote with its port (Azure Application Gateway) as the address, not the peer', () => {
    // Before: not an address, so every such client was keyed on the gateway (the peer) and shared one budget.
    expect(ClientFailureLimiter.keyFor('203.0.113.7:51234', '10.0.0.5')).toBe(ClientFailureLimiter.keyFor('203.0.113.7'));
    expect(ClientFailureLimiter.keyFor('[2001:db8:abcd:12ff::1]:443', '10.0.0.5')).toBe(ClientFailureLimiter.keyFor('2001:db8:abcd:12ff::1'));
    expect(ClientFailureLimiter.keyFor('2001:db8::1', '10.0.0.5')).toBe(ClientFailureLimiter.keyFor('2001:db8::1'));
    expect(ClientFailureLimiter.keyFor('not-an-address:80', '10.0.0.5')).toBe(ClientFailureLimiter.keyFor('10.0.0.5'));
  });
});

describe('ClientFailureLimiter memory', () => {
  it('counts at most maxClients addresses in a window, however many a flood (or X-Forwarded-For) brings', () => {
    const limiter = new ClientFailureLimiter({ limit: 5, windowMs: 60_000, maxClients: 1000, now: () => 0 });
    for (let i = 0; i < 50_000; i++) limiter.recordFailure(ClientFailureLimiter.keyFor(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
    expect(limiter.clients).toBe(1000);
    expect(new ClientFailureLimiter({ limit: 5 }).maxClients).toBe(10_000);
  });

  it('forgets the client whose last failure is oldest, so one that keeps failing stays counted', () => {
    const limiter = new ClientFailureLimiter({ limit: 5, windowMs: 60_000, maxClients: 3, now: () => 0 });
    const forger = ClientFailureLimiter.keyFor('192.0.2.66');
    limiter.recordFailure(forger);
    for (let i = 1; i <= 10; i++) {
      limiter.recordFailure(ClientFailureLimiter.keyFor(`198.51.100.${i}`));
      limiter.recordFailure(forger);
    }
    expect(limiter.recordFailure(forger)).toBe(12);
    expect(limiter.clients).toBe(3);
    // 198.51.100.1 was forgotten long ago: it starts again from 1.
    expect(limiter.recordFailure(ClientFailureLimiter.keyFor('198.51.100.1'))).toBe(1);
  });
});
