import { describe, expect, it } from '@jest/globals';
import { repeating, ScheduledPasses } from '../../services/worker/maintenance/scheduled-passes.js';
import { waitFor } from '../support/wait-for.js';

/** The scheduling the worker's background passes share (reconciler, retention, pause resync, the passes after start). */

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

/** Delays of `firstMs` then `thenMs`, counting per start() how many of them each chain asked for. */
const countedDelays = (firstMs: number, thenMs: number) => {
  const taken: number[] = [];
  const delaysMs: Iterable<number> = {
    [Symbol.iterator]: () => {
      const chain = taken.push(0) - 1;
      let count = 0;
      return {
        next: () => {
          taken[chain] = ++count;
          return { value: count === 1 ? firstMs : thenMs, done: false };
        },
      };
    },
  };
  return { delaysMs, taken };
};

describe('ScheduledPasses', () => {
  it('runs a 0-delay pass inside start(), and stop() waits for it and clears the passes still to come', async () => {
    const gate = deferred();
    let calls = 0;
    let waitSaid = 0;
    const passes = new ScheduledPasses({
      delaysMs: [0, 10],
      pass: async () => {
        calls += 1;
        await gate.promise;
      },
      onError: () => undefined,
      onWaitAtStop: () => (waitSaid += 1),
    });
    passes.start();
    expect(calls).toBe(1);
    let stopped = false;
    const stopping = passes.stop().then(() => (stopped = true));
    expect(passes.stopping).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(waitSaid).toBe(1);
    // The 10 ms pass was cleared: wait well past it.
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1);
  });

  it('runs each next pass its delay after the previous one ended, a failed one reported and not ending the rest', async () => {
    const errors: unknown[] = [];
    const ran: number[] = [];
    const all = deferred();
    const passes = new ScheduledPasses({
      delaysMs: [1, 1, 1],
      pass: async () => {
        ran.push(ran.length);
        if (ran.length === 2) throw new Error('Redis unavailable');
        if (ran.length === 3) all.resolve();
      },
      onError: (error) => errors.push(error),
    });
    passes.start();
    expect(ran).toEqual([]);
    await all.promise;
    await passes.stop();
    expect(ran).toEqual([0, 1, 2]);
    expect(errors).toHaveLength(1);
  });

  it('repeats a periodic pass until stopped, each one only after the previous ended (never two at once)', async () => {
    let active = 0;
    let most = 0;
    let runs = 0;
    const fifth = deferred();
    const passes = new ScheduledPasses({
      delaysMs: repeating(0, 0),
      pass: async () => {
        active += 1;
        most = Math.max(most, active);
        await new Promise((r) => setImmediate(r));
        active -= 1;
        runs += 1;
        if (runs === 5) fifth.resolve();
      },
      onError: () => undefined,
    });
    passes.start();
    await fifth.promise;
    await passes.stop();
    const after = runs;
    await new Promise((r) => setTimeout(r, 20));
    expect(runs).toBe(after);
    expect(most).toBe(1);
  });

  it('a start() while an earlier stop() still waits for its pass runs one chain, its first pass after that one ended', async () => {
    const gate = deferred();
    const { delaysMs, taken } = countedDelays(0, 1);
    let calls = 0;
    let active = 0;
    let most = 0;
    const passes = new ScheduledPasses({
      delaysMs,
      pass: async () => {
        calls += 1;
        active += 1;
        most = Math.max(most, active);
        if (calls === 1) await gate.promise;
        else await new Promise((r) => setImmediate(r));
        active -= 1;
      },
      onError: () => undefined,
    });
    passes.start();
    const firstStop = passes.stop();
    passes.start();
    // The old pass is still in progress: the new first pass (delay 0) waits for it instead of running beside it.
    expect(calls).toBe(1);
    expect(passes.stopping).toBe(false);
    gate.resolve();
    await firstStop;
    // The stopped chain took no delay past its first when its pass ended: it schedules nothing more.
    expect(taken[0]).toBe(1);
    await waitFor('five passes after the restart', () => calls >= 6, { intervalMs: 1 });
    await passes.stop();
    const after = calls;
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(after);
    expect(taken).toHaveLength(2);
    expect(taken[0]).toBe(1);
    expect(most).toBe(1);
  });

  it('a stop() right after such a start() waits for the new first pass too, or it does not run', async () => {
    const gate = deferred();
    let calls = 0;
    const passes = new ScheduledPasses({
      delaysMs: [0],
      pass: async () => {
        calls += 1;
        if (calls === 1) await gate.promise;
      },
      onError: () => undefined,
    });
    passes.start();
    const firstStop = passes.stop();
    passes.start();
    let stopped = false;
    const secondStop = passes.stop().then(() => (stopped = true));
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    gate.resolve();
    await Promise.all([firstStop, secondStop]);
    // Stopped before the old pass ended: the new chain's first pass never started.
    expect(calls).toBe(1);
  });

  it('start() twice without a stop() runs one chain, the newest', async () => {
    const gate = deferred();
    const { delaysMs, taken } = countedDelays(0, 1);
    let calls = 0;
    let active = 0;
    let most = 0;
    const passes = new ScheduledPasses({
      delaysMs,
      pass: async () => {
        calls += 1;
        active += 1;
        most = Math.max(most, active);
        if (calls === 1) await gate.promise;
        else await new Promise((r) => setImmediate(r));
        active -= 1;
      },
      onError: () => undefined,
    });
    passes.start();
    passes.start();
    expect(calls).toBe(1);
    gate.resolve();
    await waitFor('four passes after the second start', () => calls >= 5, { intervalMs: 1 });
    await passes.stop();
    expect(taken[0]).toBe(1);
    expect(most).toBe(1);
  });

  it('a pass that throws instead of returning a rejected promise is reported like one, at start() and later', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const passes = new ScheduledPasses({
      delaysMs: [0, 1, 1],
      pass: () => {
        calls += 1;
        if (calls !== 2) throw new Error(`no pool ${calls}`);
        return Promise.resolve();
      },
      onError: (error) => errors.push(error),
    });
    expect(() => passes.start()).not.toThrow();
    await waitFor('three passes', () => calls === 3 && errors.length === 2, { intervalMs: 1 });
    await passes.stop();
    expect(errors.map((error) => (error as Error).message)).toEqual(['no pool 1', 'no pool 3']);
  });

  it('a pass that throws on its timer is reported too, and the passes after it still run', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const passes = new ScheduledPasses({
      delaysMs: [1, 1],
      pass: () => {
        calls += 1;
        if (calls === 1) throw new Error('no pool');
        return Promise.resolve();
      },
      onError: (error) => errors.push(error),
    });
    passes.start();
    await waitFor('the pass after the one that threw', () => calls === 2, { intervalMs: 1, timeoutMs: 2_000 });
    await passes.stop();
    expect(errors).toHaveLength(1);
  });

  it('an onError that throws ends neither the passes nor the drain, and leaves no unhandled rejection', async () => {
    const gate = deferred();
    let calls = 0;
    let reported = 0;
    const passes = new ScheduledPasses({
      delaysMs: repeating(1, 1),
      pass: async () => {
        calls += 1;
        if (calls === 3) await gate.promise;
        throw new Error('Redis unavailable');
      },
      onError: () => {
        reported += 1;
        throw new Error('logger closed');
      },
    });
    passes.start();
    await waitFor('the third pass', () => calls === 3, { intervalMs: 1 });
    const stopping = passes.stop();
    gate.resolve();
    await expect(stopping).resolves.toBeUndefined();
    expect(reported).toBe(3);
    // Jest fails the test on an unhandled rejection (it takes them before a process listener would); they are told
    // after the turn they happened in.
    await new Promise((r) => setTimeout(r, 10));
  });
});
