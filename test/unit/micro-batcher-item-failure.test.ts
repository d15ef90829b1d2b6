import { describe, expect, it } from '@jest/globals';
import { ItemFailure, MicroBatcher } from '../../services/shared/batching/micro-batcher.js';

describe('MicroBatcher ItemFailure', () => {
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
