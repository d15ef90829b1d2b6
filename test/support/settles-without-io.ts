import { setImmediate as afterPendingIo } from 'node:timers/promises';

/**
 * Whether `promise` settles without waiting for any I/O: before the event loop's next check phase, which comes only
 * after the pending I/O callbacks (a socket's data, a connect error, a timer). "Fails at once" proved as what it
 * means, nothing waited for, rather than by a wall-clock bound a loaded machine can exceed. The promise is left
 * to settle either way (its rejection handled).
 */
export async function settlesWithoutIo<T>(promise: Promise<T>): Promise<{ settled: false } | { settled: true; value?: T; error?: unknown }> {
  const outcome = promise.then(
    (value) => ({ settled: true as const, value }),
    (error: unknown) => ({ settled: true as const, error }),
  );
  return Promise.race([outcome, afterPendingIo().then(() => ({ settled: false as const }))]);
}
