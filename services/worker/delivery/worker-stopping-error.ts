/**
 * A delivery that was not started because its worker is stopping (SIGTERM's drain): it held none of its
 * destination's slots yet, so nothing was sent. The event's attempt is given back and its job goes back to the queue
 * for the next worker, as a wait would; only deliveries already holding a slot finish in the drain.
 */
export class WorkerStoppingError extends Error {
  readonly code = 'WORKER_STOPPING';
  constructor(readonly destination: string) {
    super(`${destination}: not started, the worker is stopping`);
    this.name = 'WorkerStoppingError';
  }
}
