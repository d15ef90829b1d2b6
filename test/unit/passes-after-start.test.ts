import { describe, expect, it } from '@jest/globals';
import { PassesAfterStart } from '../../services/worker/maintenance/passes-after-start.js';

/** The scheduling the worker's start-time passes share (StaleCircuits, RemovedDestinationRelease). */

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('PassesAfterStart', () => {
  it('runs a 0-delay pass inside start(), and stop() waits for it and clears the passes still to come', async () => {
    const gate = deferred();
    let calls = 0;
    let waitSaid = 0;
    const passes = new PassesAfterStart({
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
    const passes = new PassesAfterStart({
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
});
