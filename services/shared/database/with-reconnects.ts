import { setTimeout as delay } from 'node:timers/promises';
import { isConnectionError } from './database-errors.js';

/** Pauses before each new try of a statement whose connection broke: about 6 s in all, then the caller's error. */
export const RECONNECT_DELAYS_MS = [100, 200, 400, 800, 1600, 3200];

/**
 * Runs `run`, and again (with `again` true) on a fresh pooled connection each time it fails because its connection
 * broke (a killed session, a failover, a restart), pausing {@link RECONNECT_DELAYS_MS}; any other failure, or the
 * last, is thrown. For statements that are safe to send again (reads, or writes guarded to apply once).
 */
export async function withReconnects<Result>(run: (again: boolean) => Promise<Result>, onRetry: (error: unknown, attempt: number) => void = () => undefined): Promise<Result> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run(attempt > 0);
    } catch (error) {
      const pause = RECONNECT_DELAYS_MS[attempt];
      if (pause === undefined || !isConnectionError(error)) throw error;
      onRetry(error, attempt + 1);
      await delay(pause);
    }
  }
}
