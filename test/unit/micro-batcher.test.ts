import { describe, expect, it } from '@jest/globals';
import { ItemFailure, MicroBatcher } from '../../services/shared/batching/micro-batcher.js';

/** A promise resolved from outside, to hold a flush open. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('MicroBatcher', () => {
  it('gathers calls made in one turn into one batch and resolves each with its own result, in order', async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, string>({
      maxBatchSize: 100,
      maxConcurrentFlushes: 1,
      flush: async (items) => {
        batches.push(items);
        return items.map((item) => `r${item}`);
      },
    });
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.submit(n)));
    expect(results).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    expect(batches).toEqual([[1, 2, 3, 4, 5]]);
  });

  it('splits at maxBatchSize, keeping submission order across batches', async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, number>({
      maxBatchSize: 2,
      maxConcurrentFlushes: 10,
      flush: async (items) => {
        batches.push(items);
        return items.map((item) => item * 10);
      },
    });
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.submit(n)));
    expect(results).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('gathers calls arriving while the flush limit is reached into the next batch', async () => {
    const batches: number[][] = [];
    const held = gate();
    let inFlight = 0;
    let maxInFlight = 0;
    const batcher = new MicroBatcher<number, number>({
      maxBatchSize: 100,
      maxConcurrentFlushes: 1,
      flush: async (items) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        batches.push(items);
        if (batches.length === 1) await held.promise;
        inFlight--;
        return items;
      },
    });
    const first = batcher.submit(1);
    await settle();
    expect(batches).toEqual([[1]]);
    const later = [2, 3, 4].map((n) => batcher.submit(n));
    await settle();
    await settle();
    expect(batches).toHaveLength(1); // held back by maxConcurrentFlushes
    expect(batcher.size).toBe(4);
    held.open();
    expect(await Promise.all([first, ...later])).toEqual([1, 2, 3, 4]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
    expect(maxInFlight).toBe(1);
    expect(batcher.size).toBe(0);
  });

  it('fails every item of a failed batch with its error, and only that batch', async () => {
    let calls = 0;
    const batcher = new MicroBatcher<string, string>({
      maxBatchSize: 2,
      maxConcurrentFlushes: 4,
      flush: async (items) => {
        calls++;
        if (items.includes('bad')) throw new Error(`batch with bad: ${items.join(',')}`);
        return items.map((item) => item.toUpperCase());
      },
    });
    const outcomes = await Promise.allSettled(['a', 'bad', 'c', 'd'].map((item) => batcher.submit(item)));
    expect(calls).toBe(2);
    expect(outcomes[0]).toEqual({ status: 'rejected', reason: new Error('batch with bad: a,bad') });
    expect(outcomes[1]).toEqual({ status: 'rejected', reason: new Error('batch with bad: a,bad') });
    expect(outcomes[2]).toEqual({ status: 'fulfilled', value: 'C' });
    expect(outcomes[3]).toEqual({ status: 'fulfilled', value: 'D' });
    // It keeps working after a failure.
    expect(await batcher.submit('e')).toBe('E');
  });

  it('turns a synchronous throw in flush into rejections', async () => {
    const batcher = new MicroBatcher<number, number>({
      maxBatchSize: 10,
      maxConcurrentFlushes: 1,
      flush: () => {
        throw new Error('sync');
      },
    });
    await expect(Promise.all([batcher.submit(1), batcher.submit(2)])).rejects.toThrow('sync');
    expect(batcher.size).toBe(0);
  });

  it('drain resolves at once when idle, and otherwise only after every pending and in-flight item is settled', async () => {
    const held = gate();
    const settled: number[] = [];
    const batcher = new MicroBatcher<number, number>({
      maxBatchSize: 1,
      maxConcurrentFlushes: 1,
      flush: async (items) => {
        await held.promise;
        return items;
      },
    });
    await batcher.drain(); // idle

    const submitted = [1, 2, 3].map((n) => batcher.submit(n).then((value) => settled.push(value)));
    let drained = false;
    const draining = batcher.drain().then(() => (drained = true));
    await settle();
    await settle();
    expect(drained).toBe(false);
    expect(batcher.size).toBe(3);
    held.open();
    await draining;
    expect(settled).toEqual([1, 2, 3]);
    expect(batcher.size).toBe(0);
    await Promise.all(submitted);
  });

  it('drain also waits for a failing batch', async () => {
    const held = gate();
    const batcher = new MicroBatcher<number, number>({
      maxBatchSize: 10,
      maxConcurrentFlushes: 1,
      flush: async () => {
        await held.promise;
        throw new Error('down');
      },
    });
    const rejected = batcher.submit(1).catch((error: Error) => error.message);
    let drained = false;
    const draining = batcher.drain().then(() => (drained = true));
    await settle();
    expect(drained).toBe(false);
    held.open();
    await draining;
    expect(await rejected).toBe('down');
  });

  it('rejects only the item whose result is an ItemFailure; its neighbours in the batch resolve', async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, string>({
      maxBatchSize: 100,
      maxConcurrentFlushes: 1,
      flush: async (items) => {
        batches.push(items);
        return items.map((item) => (item === 3 ? new ItemFailure(new Error('bad row 3')) : `r${item}`));
      },
    });
    const results = await Promise.allSettled([1, 2, 3, 4].map((n) => batcher.submit(n)));
    expect(batches).toEqual([[1, 2, 3, 4]]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['r1', 'r2', 'bad row 3', 'r4']);
    await batcher.drain();
    expect(batcher.size).toBe(0);
  });
});
