/** An attempt in which at least one destination failed; BullMQ retries the job unless `final`. */
export class DeliveryFailedError extends Error {
  readonly code = 'DELIVERY_FAILED';
  constructor(
    message: string,
    /** True on the last attempt: the event is DEAD_LETTER and the job must not be retried. */
    readonly final: boolean,
  ) {
    super(message);
    this.name = 'DeliveryFailedError';
  }
}
