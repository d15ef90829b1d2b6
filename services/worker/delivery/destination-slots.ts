import type { Destination } from '../routing/route-table.js';
import { ConcurrencyLimit } from './concurrency-limit.js';
import type { DeliveryHooks } from './deliverer.js';
import { WorkerStoppingError } from './worker-stopping-error.js';
import { destinationRequestsInFlight, destinationRequestsWaiting } from '../../shared/metrics/destination-metrics.js';

/**
 * Each destination's slots: at most its `maxConcurrency` deliveries in flight in this process (default: the worker's
 * concurrency, so that with the default no job ever waits), counted in `webhook_destination_requests_in_flight` /
 * `…_waiting`. Waiting for one destination's slot never holds up another destination. The HTTP forwarder and the broker
 * publishers each keep one.
 */
export class DestinationSlots {
  private readonly limits = new Map<string, ConcurrencyLimit>();
  /** Set once the worker's drain began: no destination hands out slots any more. */
  private stopping = false;

  /**
   * @param beforeSend run once a slot is held, right before the task (the rate limit's reservation); when it throws
   *   (the delivery must wait), the slot is given back and the error is the caller's
   */
  constructor(
    private readonly defaultMaxConcurrency: number,
    private readonly beforeSend?: (destination: Destination) => Promise<void>,
  ) {}

  /**
   * Hands out no more slots: a `run` waiting for one now, or asked for later, throws {@link WorkerStoppingError}
   * without running its task; the tasks holding a slot finish. A draining worker must not start the publishes still
   * queued behind a destination's `maxConcurrency` (see Deliverer.stopStartingDeliveries).
   */
  stopStarting(): void {
    this.stopping = true;
    for (const [name, limit] of this.limits) limit.refuse(new WorkerStoppingError(name));
  }

  /**
   * Runs `task` holding one of the destination's slots; the slot is given back however the task ends.
   * `hooks.beforeSlotWait` runs when no slot is free, `hooks.afterSlotWait` once the slot waited for is held,
   * `hooks.slotHeld` once a slot is held (waited for or not).
   */
  async run<T>(destination: Destination, task: () => Promise<T>, hooks?: DeliveryHooks): Promise<T> {
    let limit = this.limits.get(destination.name);
    if (!limit) {
      limit = new ConcurrencyLimit(destination.maxConcurrency ?? this.defaultMaxConcurrency);
      if (this.stopping) limit.refuse(new WorkerStoppingError(destination.name));
      this.limits.set(destination.name, limit);
    }
    const labels = { destination: destination.name };
    const waits = limit.active >= limit.limit;
    if (waits) {
      destinationRequestsWaiting.inc(labels);
      hooks?.beforeSlotWait?.();
    }
    let release: () => void;
    try {
      release = await limit.acquire();
    } finally {
      if (waits) destinationRequestsWaiting.dec(labels);
    }
    destinationRequestsInFlight.inc(labels);
    try {
      if (waits) await hooks?.afterSlotWait?.();
      await hooks?.slotHeld?.();
      await this.beforeSend?.(destination);
      return await task();
    } finally {
      destinationRequestsInFlight.dec(labels);
      release();
    }
  }
}
