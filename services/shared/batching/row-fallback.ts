import { isRowDataError } from '../database/database-errors.js';
import { ItemFailure } from './micro-batcher.js';

/**
 * Runs a batch statement; when PostgreSQL refuses it for one row's data ({@link isRowDataError}), runs every item
 * on its own (`runOne`, default `runBatch([item])`), so only the culprit fails ({@link ItemFailure}) and its
 * neighbours are answered as they would have been alone. Any other error fails the whole batch.
 */
export async function withRowFallback<Item, Result>(
  items: Item[],
  runBatch: (batch: Item[]) => Promise<(Result | ItemFailure)[]>,
  runOne: (item: Item) => Promise<(Result | ItemFailure)[]> = (item) => runBatch([item]),
): Promise<(Result | ItemFailure)[]> {
  try {
    return await runBatch(items);
  } catch (error) {
    // Also for a batch of one: `runOne` may take another way (the event writer serialises the payload itself).
    if (!isRowDataError(error)) throw error;
    const results = await Promise.allSettled(items.map((item) => runOne(item)));
    return results.map((result) => (result.status === 'fulfilled' ? result.value[0]! : new ItemFailure(result.reason)));
  }
}
