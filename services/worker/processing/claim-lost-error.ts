/**
 * A delivery that came late after its claim (a wait for its destination's slot, its route's transform, a stall on its
 * way) and found, once it held its slot, that its job's claim on the event is gone (or a delivery that cleared its
 * claim's waiting mark and found so): the worker stalled past its job lock (a long GC, CPU throttling), BullMQ
 * handed the job to another worker, and that worker's claim now holds the event (it may have delivered and completed
 * it already). Nothing was sent: sending would only duplicate what the other worker does, and this run's finish would
 * be refused anyway.
 */
export class ClaimLostError extends Error {
  readonly code = 'CLAIM_LOST';
  constructor(
    readonly eventId: string,
    readonly destination: string,
  ) {
    super(`${destination}: not sent, the event's claim passed to another run while this delivery was on its way`);
    this.name = 'ClaimLostError';
  }
}
