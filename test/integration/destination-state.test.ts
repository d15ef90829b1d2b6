/**
 * The destinations' shared state in a real Redis: the circuit's transitions (one Lua script each, atomic across
 * pods), the paused set's versioned copy, and the sliding-log rate limit shared by two connections (two "pods").
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisSlidingWindowRateLimiter, type Redis as LimiterRedis } from 'sliding-window-rate-limiter';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

let ns: TestQueueNamespace;
let redisA: Redis;
let redisB: Redis;
let podA: DestinationStateStore;
let podB: DestinationStateStore;
const breaker = { failureThreshold: 3, cooldownMs: 300 };
const lease = { probeLeaseMs: 5000 };

beforeAll(async () => {
  ns = createQueueNamespace();
  redisA = new Redis(ns.redisUrl);
  redisB = new Redis(ns.redisUrl);
  podA = new DestinationStateStore(redisA, `${ns.prefix}:webhook-events`);
  podB = new DestinationStateStore(redisB, `${ns.prefix}:webhook-events`);
  await podA.syncPauses(0, []);
});

afterAll(async () => {
  redisA?.disconnect();
  redisB?.disconnect();
  await ns?.cleanup();
});

describe('circuit breaker state in Redis', () => {
  it('opens after consecutive failures; a success before the threshold starts the count again', async () => {
    const name = 'count';
    expect(await podA.record(name, 'failure', breaker)).toBeUndefined();
    expect(await podB.record(name, 'failure', breaker)).toBeUndefined();
    expect(await podA.record(name, 'success', breaker)).toBeUndefined();
    expect((await podA.read([name])).views[0]!.circuit).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expect(await podA.record(name, 'failure', breaker)).toBeUndefined();
    expect(await podB.record(name, 'failure', breaker)).toBeUndefined();
    expect(await podA.admit(name, lease, 't0')).toEqual({ verdict: 'allow' });
    // The third in a row, from either pod, opens it for every pod.
    expect(await podB.record(name, 'failure', breaker)).toBe('opened');
    const admission = await podA.admit(name, lease, 't1');
    expect(admission).toMatchObject({ verdict: 'open' });
    expect((admission as { waitMs: number }).waitMs).toBeGreaterThan(0);
    expect((admission as { waitMs: number }).waitMs).toBeLessThanOrEqual(breaker.cooldownMs);
  });

  it('after the cooldown lets exactly one probe through; its failure reopens it, its success closes it', async () => {
    const name = 'probe';
    for (let i = 0; i < breaker.failureThreshold; i++) await podA.record(name, 'failure', breaker);
    const { openedAt } = (await podA.read([name])).views[0]!.circuit!;
    expect(openedAt).not.toBeNull();
    const probe = await waitFor('the cooldown to end', async () => {
      const admission = await podA.admit(name, lease, 'probe-1');
      return admission !== 'unsynced' && admission.verdict === 'probe' ? admission : undefined;
    }, { timeoutMs: 3000, intervalMs: 25 });
    expect(probe).toEqual({ verdict: 'probe', token: 'probe-1' });
    // One probe at a time, whichever pod asks.
    const [a, b] = await Promise.all([podA.admit(name, lease, 'probe-2'), podB.admit(name, lease, 'probe-3')]);
    expect([a, b].map((x) => (x === 'unsynced' ? x : x.verdict))).toEqual(['probing', 'probing']);
    // A failure that is not the probe's (a late answer) changes nothing; the probe's failure reopens it.
    expect(await podB.record(name, 'failure', breaker, 'not-the-probe')).toBeUndefined();
    expect(await podA.record(name, 'failure', breaker, 'probe-1')).toBe('reopened');
    const reopened = (await podA.read([name])).views[0]!.circuit!;
    expect(reopened).toMatchObject({ state: 'open', openedAt });
    const second = await waitFor('the second cooldown to end', async () => {
      const admission = await podB.admit(name, lease, 'probe-4');
      return admission !== 'unsynced' && admission.verdict === 'probe' ? admission : undefined;
    }, { timeoutMs: 3000, intervalMs: 25 });
    expect(await podB.record(name, 'success', breaker, second.verdict === 'probe' ? second.token : '')).toBe('closed');
    expect(await podA.admit(name, lease, 'after')).toEqual({ verdict: 'allow' });
    expect((await podA.read([name])).views[0]!.circuit).toEqual({ state: 'closed', consecutiveFailures: 0, openedAt: null, openUntil: null });
  });

  it('a probe that was not sent (released) lets another delivery probe at once', async () => {
    const name = 'release';
    for (let i = 0; i < breaker.failureThreshold; i++) await podA.record(name, 'failure', breaker);
    await waitFor('the probe', async () => {
      const admission = await podA.admit(name, lease, 'p1');
      return admission !== 'unsynced' && admission.verdict === 'probe';
    }, { timeoutMs: 3000, intervalMs: 25 });
    expect(await podB.admit(name, lease, 'p2')).toMatchObject({ verdict: 'probing' });
    await podA.record(name, 'release', breaker, 'p1');
    expect(await podB.admit(name, lease, 'p3')).toEqual({ verdict: 'probe', token: 'p3' });
  });

  it('says whether the probe is free: closed, cooldown over, probe freed or its lease run out; not while open or probed', async () => {
    const name = 'probe-free';
    // A cooldown no test waits out: it is ended by setting its end.
    const long = { failureThreshold: 1, cooldownMs: 600_000 };
    expect(await podA.probeFree(name)).toBe(true);
    expect(await podA.record(name, 'failure', long)).toBe('opened');
    expect(await podB.probeFree(name)).toBe(false);
    await redisA.hset(podA.circuitKey(name), 'openUntil', 0);
    expect(await podB.probeFree(name)).toBe(true);
    expect(await podA.admit(name, lease, 'p1')).toEqual({ verdict: 'probe', token: 'p1' });
    expect(await podB.probeFree(name)).toBe(false);
    await podA.record(name, 'release', long, 'p1');
    expect(await podB.probeFree(name)).toBe(true);
    expect(await podB.admit(name, lease, 'p2')).toEqual({ verdict: 'probe', token: 'p2' });
    await redisA.hset(podA.circuitKey(name), 'probeUntil', 0);
    expect(await podA.probeFree(name)).toBe(true);
    expect(await podA.admit(name, lease, 'p3')).toEqual({ verdict: 'probe', token: 'p3' });
    expect(await podA.record(name, 'failure', long, 'p3')).toBe('reopened');
    expect(await podB.probeFree(name)).toBe(false);
  });

  it('an open circuit ends by the cooldown configured now when that is shorter, never before its Retry-After', async () => {
    const long = { failureThreshold: 1, cooldownMs: 600_000 };
    // Opened under a 10-minute cooldown, admitted under a 1 ms one: the probe goes.
    expect(await podA.record('shortened', 'failure', long)).toBe('opened');
    expect(await podA.admit('shortened', { ...lease, cooldownMs: 600_000 }, 'p0')).toMatchObject({ verdict: 'open' });
    const probe = await waitFor('a ms since it opened', async () => {
      const admission = await podB.admit('shortened', { ...lease, cooldownMs: 1 }, 'p1');
      return admission !== 'unsynced' && admission.verdict === 'probe' ? admission : undefined;
    }, { timeoutMs: 3000, intervalMs: 5 });
    expect(probe).toEqual({ verdict: 'probe', token: 'p1' });
    // Reopened by a probe answered with a 10-minute Retry-After: a short cooldown does not cut that.
    expect(await podB.record('shortened', 'failure', { failureThreshold: 1, cooldownMs: 1 }, 'p1', 600_000)).toBe('reopened');
    const held = await podA.admit('shortened', { ...lease, cooldownMs: 1 }, 'p2');
    expect(held).toMatchObject({ verdict: 'open' });
    expect((held as { waitMs: number }).waitMs).toBeGreaterThan(500_000);
    // A longer cooldown than the one it opened with does not lengthen it.
    expect(await podA.record('lengthened', 'failure', breaker)).toBeUndefined();
    for (let i = 1; i < breaker.failureThreshold; i++) await podA.record('lengthened', 'failure', breaker);
    const opened = await podA.admit('lengthened', { ...lease, cooldownMs: 600_000 }, 'p3');
    expect((opened as { waitMs: number }).waitMs).toBeLessThanOrEqual(breaker.cooldownMs);
  });

  it("a reopening written by a worker of the previous version (openUntil only) is not cut short by this version's cooldown", async () => {
    const long = { failureThreshold: 1, cooldownMs: 600_000 };
    expect(await podA.record('rolled', 'failure', long)).toBe('opened');
    // What a previous version's probe failure wrote, eleven minutes later: the state and a new openUntil, nothing else.
    // The times of this version's opening stay behind, eleven minutes old.
    const key = podA.circuitKey('rolled');
    // All three of them: `openedUntil` too. Left as it was, a new openUntil written in the same millisecond as the
    // opening (a fast machine: found in CI) equalled it, and the reopening read as this version's own.
    const [openedAt, openedUntil] = (await redisA.hmget(key, 'lastOpenedAt', 'openedUntil')).map(Number);
    await redisA.hset(key, 'lastOpenedAt', openedAt! - 660_000, 'retryUntil', openedAt! - 660_000, 'openedUntil', openedUntil! - 660_000, 'openUntil', Date.now() + 600_000);
    // Fails without the fix: a probe (the end moved back to the old opening's, long past).
    const admission = await podB.admit('rolled', { ...lease, cooldownMs: 600_000 }, 'p4');
    expect(admission).toMatchObject({ verdict: 'open' });
    expect((admission as { waitMs: number }).waitMs).toBeGreaterThan(500_000);
  });

  it('a destination without a breaker is never held by a circuit', async () => {
    for (let i = 0; i < 10; i++) await podA.record('nobreaker', 'failure', breaker);
    expect(await podA.admit('nobreaker', undefined, '')).toEqual({ verdict: 'allow' });
  });
});

describe('the paused set', () => {
  it('answers unsynced when Redis holds no copy, and keeps only the newest copy', async () => {
    const fresh = new DestinationStateStore(redisA, `${ns.prefix}:other-queue`);
    expect(await fresh.admit('billing', undefined, '')).toBe('unsynced');
    expect(await fresh.syncPauses(3, ['billing'])).toBe(true);
    expect(await fresh.admit('billing', undefined, '')).toEqual({ verdict: 'paused' });
    expect(await fresh.admit('crm', undefined, '')).toEqual({ verdict: 'allow' });
    // An older copy arriving late (a slow admin request, a worker's re-sync) is ignored.
    expect(await fresh.syncPauses(2, [])).toBe(false);
    expect(await fresh.admit('billing', undefined, '')).toEqual({ verdict: 'paused' });
    expect(await fresh.syncPauses(4, [])).toBe(true);
    expect(await fresh.admit('billing', undefined, '')).toEqual({ verdict: 'allow' });
  });
});

describe('admissions asked together', () => {
  /**
   * A store on a connection of its own (auto-pipelined, as the worker's `state` role makes it, unless told otherwise),
   * and how many scripts went through it.
   */
  function counted({ enableAutoPipelining = true } = {}) {
    const redis = new Redis(ns.redisUrl, { enableAutoPipelining });
    const store = new DestinationStateStore(redis, `${ns.prefix}:webhook-events`);
    let scripts = 0;
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
      if (command.name === 'evalsha' || command.name === 'eval') scripts++;
      return (send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as typeof redis.sendCommand;
    return { redis, store, scripts: () => scripts };
  }

  it('a destination without a breaker: the admissions asked in one turn share one script run, and a later one reads again', async () => {
    const { redis, store, scripts } = counted();
    try {
      await redis.ping();
      // The deliveries of one claim batch ask together (each job's continuation in the same turn).
      const admissions = await Promise.all(Array.from({ length: 26 }, () => Promise.resolve().then(() => store.admit('together', undefined, ''))));
      expect(admissions).toEqual(Array.from({ length: 26 }, () => ({ verdict: 'allow' })));
      expect(scripts()).toBe(1);
      // A pause copied meanwhile is what the next admission reads: nothing answered earlier is reused.
      expect(await podA.syncPauses(100, ['together'])).toBe(true);
      expect(await store.admit('together', undefined, '')).toEqual({ verdict: 'paused' });
      expect(scripts()).toBe(2);
      // One destination's admission is not another's.
      const [paused, other] = await Promise.all([store.admit('together', undefined, ''), store.admit('someone-else', undefined, '')]);
      expect([paused, other]).toEqual([{ verdict: 'paused' }, { verdict: 'allow' }]);
      expect(scripts()).toBe(4);
    } finally {
      await podA.syncPauses(101, []);
      redis.disconnect();
    }
  });

  it('an admission asked once the shared one was sent is sent on its own, even while that one is unanswered', async () => {
    // Without auto-pipelining, which holds back a connection's next commands until its previous ones are answered:
    // each admission reaches Redis as it is sent.
    const { redis, store, scripts } = counted({ enableAutoPipelining: false });
    const held = `${ns.prefix}:held`;
    try {
      await redis.ping();
      // Redis answers this connection's later commands only once the BLPOP is: the admission below stays unanswered.
      const blocked = redis.blpop(held, 10);
      const first = store.admit('after-send', undefined, '');
      await waitFor('the first admission to be sent', () => scripts() === 1, { timeoutMs: 2000, intervalMs: 5 });
      // Copied after the first admission was sent: the second must read it, so it cannot take the first's answer.
      expect(await podA.syncPauses(200, ['after-send'])).toBe(true);
      const second = store.admit('after-send', undefined, '');
      await waitFor('the second admission to be sent', () => scripts() === 2, { timeoutMs: 2000, intervalMs: 5 });
      await redisB.lpush(held, 'go');
      await blocked;
      expect(await second).toEqual({ verdict: 'paused' });
      await first;
    } finally {
      await podA.syncPauses(201, []);
      redis.disconnect();
    }
  });

  it('a destination without a breaker: the rechecks asked in one turn share one script run (with the admissions), and a later one reads again', async () => {
    const { redis, store, scripts } = counted();
    try {
      await redis.ping();
      // Deliveries whose transforms finished, or which got their slots, in the same turn ask again together.
      const rechecks = await Promise.all(Array.from({ length: 26 }, () => Promise.resolve().then(() => store.recheck('rechecked', false, ''))));
      expect(rechecks).toEqual(Array.from({ length: 26 }, () => ({ verdict: 'allow' })));
      expect(scripts()).toBe(1);
      // Without a breaker a recheck reads what an admission reads: asked in the same turn, they share the run too.
      const mixed = await Promise.all([store.admit('rechecked', undefined, ''), store.recheck('rechecked', false, ''), store.recheck('rechecked', false, '')]);
      expect(mixed).toEqual([{ verdict: 'allow' }, { verdict: 'allow' }, { verdict: 'allow' }]);
      expect(scripts()).toBe(2);
      // A pause copied before a later recheck is what that recheck reads: nothing answered earlier is reused.
      expect(await podA.syncPauses(300, ['rechecked'])).toBe(true);
      expect(await store.recheck('rechecked', false, '')).toEqual({ verdict: 'paused' });
      expect(scripts()).toBe(3);
    } finally {
      await podA.syncPauses(301, []);
      redis.disconnect();
    }
  });

  it('a recheck asked once the shared one was sent is sent on its own, even while that one is unanswered, and sees a pause copied in between', async () => {
    const { redis, store, scripts } = counted({ enableAutoPipelining: false });
    const held = `${ns.prefix}:held-recheck`;
    try {
      await redis.ping();
      const blocked = redis.blpop(held, 10);
      const first = store.recheck('recheck-after-send', false, '');
      await waitFor('the first recheck to be sent', () => scripts() === 1, { timeoutMs: 2000, intervalMs: 5 });
      expect(await podA.syncPauses(400, ['recheck-after-send'])).toBe(true);
      const second = store.recheck('recheck-after-send', false, '');
      await waitFor('the second recheck to be sent', () => scripts() === 2, { timeoutMs: 2000, intervalMs: 5 });
      await redisB.lpush(held, 'go');
      await blocked;
      expect(await second).toEqual({ verdict: 'paused' });
      await first;
    } finally {
      await podA.syncPauses(401, []);
      redis.disconnect();
    }
  });

  it("a destination with a breaker: every recheck runs its own script (the probe's holder may go, the others not)", async () => {
    const { redis, store, scripts } = counted();
    try {
      const name = 'recheck-breaker';
      for (let i = 0; i < breaker.failureThreshold; i++) await podA.record(name, 'failure', breaker);
      const probe = await waitFor('the cooldown to end', async () => {
        const admission = await podA.admit(name, lease, 'holder');
        return admission !== 'unsynced' && admission.verdict === 'probe' ? admission : undefined;
      }, { timeoutMs: 3000, intervalMs: 25 });
      const before = scripts();
      const rechecks = await Promise.all(['holder', '', 'other'].map((token) => store.recheck(name, true, token, breaker.cooldownMs)));
      expect(scripts() - before).toBe(3);
      expect(probe).toEqual({ verdict: 'probe', token: 'holder' });
      expect(rechecks.map((recheck) => (recheck === 'unsynced' ? recheck : recheck.verdict))).toEqual(['allow', 'probing', 'probing']);
    } finally {
      redis.disconnect();
    }
  });

  it('a destination with a breaker: every admission runs its own script (only one of them may become the probe)', async () => {
    const { redis, store, scripts } = counted();
    try {
      const name = 'together-breaker';
      for (let i = 0; i < breaker.failureThreshold; i++) await podA.record(name, 'failure', breaker);
      await waitFor('the cooldown to end', async () => (await podA.probeFree(name)) || undefined, { timeoutMs: 3000, intervalMs: 25 });
      const admissions = await Promise.all(['b1', 'b2', 'b3'].map((token) => store.admit(name, lease, token)));
      expect(scripts()).toBe(3);
      const verdicts = admissions.map((admission) => (admission === 'unsynced' ? admission : admission.verdict));
      expect(verdicts.filter((verdict) => verdict === 'probe')).toHaveLength(1);
      expect(verdicts.filter((verdict) => verdict === 'probing')).toHaveLength(2);
    } finally {
      redis.disconnect();
    }
  });
});

describe('the rate limit shared by two connections', () => {
  it('never lets more than perSecond reservations into any rolling second, whichever connection asks', async () => {
    const perSecond = 10;
    const key = `${ns.prefix}:webhook-events:destinations:rate:shared`;
    const limiters = [redisA, redisB].map((redis) => new RedisSlidingWindowRateLimiter({ redis: redis as LimiterRedis, interval: 1000 }));
    const granted: number[] = [];
    const deadline = Date.now() + 2500;
    // Both "pods" ask as fast as they can for 2.5 s.
    await Promise.all(
      limiters.map(async (limiter) => {
        while (Date.now() < deadline) {
          const result = await limiter.reserve(key, perSecond);
          if (result.token) granted.push(result.token / 1000);
          else await new Promise((resolve) => setTimeout(resolve, Math.min(20, result.reset ?? 20)));
        }
      }),
    );
    granted.sort((a, b) => a - b);
    let peak = 0;
    for (let i = 0; i < granted.length; i++) {
      let j = i;
      while (j + 1 < granted.length && granted[j + 1]! - granted[i]! < 1000) j++;
      peak = Math.max(peak, j - i + 1);
    }
    expect(peak).toBe(perSecond);
    expect(granted.length).toBeGreaterThanOrEqual(2 * perSecond);
    expect(granted.length).toBeLessThanOrEqual(3 * perSecond);
  });
});
