import type { Logger } from '../../shared/logging/logger.js';
import type { Destination } from '../routing/route-table.js';
import type { DeliveryResult } from './delivery-result.js';
import type { WorkerStoppingError } from './worker-stopping-error.js';

/** The event as every deliverer needs it. */
export interface DeliverableEvent {
  id: string;
  provider: string;
  eventType: string;
  /** The trace context stored with the event: forwarded as `traceparent` when no span of ours is active (tracing off). */
  traceparent?: string | null;
  /**
   * The event's replay round (absent: 0). A replay sends the event again: where a broker deduplicates on the message
   * id (JetStream's `Nats-Msg-Id`), the round is part of that id after the first.
   */
  replays?: number;
}

/** What is sent: the provider's original bytes, or what the route's transform made of the payload (JSON). */
export interface OutgoingMessage {
  body: Buffer;
  contentType: string;
}

/** What the caller of {@link Deliverer.deliver} runs around one delivery. */
export interface DeliveryHooks {
  /** Run, synchronously, when the delivery finds no free slot and starts waiting for one (nothing sent yet). */
  beforeSlotWait?: () => void;
  /**
   * Run once a slot is held, when the delivery had to wait for it (before the deliverer's `beforeSend`): the caller
   * checks again what let the delivery go (a pause, an opened circuit may have come meanwhile); when it throws, nothing
   * is sent and the error is the caller's.
   */
  afterSlotWait?: () => Promise<void>;
  /**
   * Run once a slot is held, whether or not the delivery waited for it (after `afterSlotWait`, before the deliverer's
   * `beforeSend`): the caller checks what anything on the delivery's way may have outlasted (its claim, once late); when
   * it throws, nothing is sent and the error is the caller's.
   */
  slotHeld?: () => Promise<void>;
  /**
   * Run with the outcome of a delivery that was sent, before its slot passes on: the caller counts it against the
   * circuit there, so a delivery that waited for this slot is checked against a circuit this outcome may have opened.
   */
  afterSend?: (result: DeliveryResult) => Promise<void>;
}

/**
 * Delivers one event to one destination of the deliverer's type (`http`, `amqp`, `nats`): one attempt, ended by the
 * destination taking the message (a 2xx, a broker's confirm, a stream's ack) or not.
 *
 * Every deliverer keeps the same contract, so retries, dead letters, replays, the per-destination "already delivered"
 * bookkeeping, metrics and traces are the processor's and work alike for every type:
 * - the message carries the event id as its id (`webhook-id`; AMQP `messageId`), the same on every retry, so
 *   receivers deduplicate (JetStream's `Nats-Msg-Id` adds the destination name, as a stream deduplicates across
 *   every destination publishing into it, and the replay round after the first, as a replay must be stored again),
 *   and the `webhook-*` / `x-webhook-*` values and `traceparent`
 *   as headers; `webhook-signature` covers exactly `message.body` when the destination has a secret;
 * - a destination's deliveries in flight are bounded by its `maxConcurrency`, and `timeoutMs` starts once a slot
 *   is held, so it measures the destination, never a wait in this worker;
 * - a failure of the destination (refused, unreachable, too slow) is a result (`succeeded: false`); an exception
 *   means the worker itself could not deliver (a bug, a secret it cannot sign with) and is the caller's to record;
 * - once the worker stops (`stopStartingDeliveries`), a delivery not yet holding a slot throws
 *   {@link WorkerStoppingError}: nothing was sent, and the caller gives the event back to the queue.
 */
export interface Deliverer {
  deliver(event: DeliverableEvent, destination: Destination, message: OutgoingMessage, hooks?: DeliveryHooks): Promise<DeliveryResult>;
  /**
   * Starts no more deliveries: those waiting for a destination's slot now, and any asked for later, throw
   * {@link WorkerStoppingError}; those holding a slot finish. Called as the worker's drain begins.
   */
  stopStartingDeliveries(): void;
  /** Closes connections; deliveries in flight finish first (the worker has stopped taking jobs by then). */
  close(): Promise<void>;
}

/** What the broker deliverers (AMQP, NATS) are built with. */
export interface BrokerPublisherOptions {
  /** Used when a destination sets no `timeoutMs`: how long to wait for the broker's confirm or ack. */
  defaultTimeoutMs: number;
  /** Publishes in flight per destination when it sets no `maxConcurrency` (the worker's WORKER_CONCURRENCY). */
  defaultMaxConcurrency: number;
  logger: Logger;
  /**
   * Run once a delivery holds one of the destination's slots, right before it is sent (the rate limit): when it
   * throws, nothing is sent and the error is the caller's (the delivery waits).
   */
  beforeSend?: (destination: Destination) => Promise<void>;
  /**
   * The longest two attempts of one event may be apart (the backoff before its last retry): a NATS stream that
   * deduplicates re-sends over a shorter `duplicate_window` is warned about on its first ack. 0 or unset: not checked.
   */
  longestRetryGapMs?: number;
}
