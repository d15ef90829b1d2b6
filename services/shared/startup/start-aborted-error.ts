/**
 * Thrown by the start's waits (for PostgreSQL, and the migrations' wait for it) when they were told to stop: a
 * SIGTERM or SIGINT arrived before the service was running. Nothing was accepted yet, so there is nothing to drain:
 * the process exits 0 instead of failing the start.
 */
export class StartAbortedError extends Error {
  readonly code = 'START_ABORTED';
  constructor(what: string) {
    super(`stopped waiting for the ${what}: the start was aborted`);
    this.name = 'StartAbortedError';
  }
}
