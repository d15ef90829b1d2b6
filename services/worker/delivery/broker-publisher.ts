import { hostname } from 'node:os';
import { context as otelContext, propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { Destination } from '../routing/route-table.js';
import { DeadlineExceededError, withinDeadline } from './deadline.js';
import type { BrokerPublisherOptions, DeliverableEvent, Deliverer, DeliveryHooks, OutgoingMessage } from './deliverer.js';
import type { DeliveryResult } from './delivery-result.js';
import { DestinationSlots } from './destination-slots.js';
import { errorText } from './error-text.js';
import { overrideHeaders } from './header-override.js';
import { WebhookHeaders } from './webhook-headers.js';

const tracer = trace.getTracer('event-driven-integration-service/worker');

/** The longest error text of a failed publish (the broker's reasons name an exchange, a routing key or a subject). */
const MAX_ERROR_MESSAGE = 1024;

/** What a publisher needs of its long-lived connection to one broker URL. */
export interface BrokerConnection {
  readonly isConnected: boolean;
  /** Why the broker cannot be reached now, while that is known (undefined otherwise). */
  readonly unreachableReason: string | undefined;
  /** Why the broker holds publishes now though reachable (RabbitMQ's resource alarm), while it does. */
  readonly heldReason?: string | undefined;
  close(): Promise<void>;
}

/** How a broker's publishes read in results: its name, and what it sends back for a message it took. */
export interface BrokerWording {
  /** e.g. 'RabbitMQ', 'NATS'. */
  broker: string;
  /** e.g. 'confirm from RabbitMQ', 'ack from JetStream'. */
  receipt: string;
  /** Errors whose own message is the reason (the broker refused, the subject has no stream, …). */
  isPublishError(error: unknown): error is Error;
  /** Errors that mean "no receipt in time" besides the deadline's own. */
  isTimeout?(error: unknown): boolean;
  /**
   * Publish errors that are the message's own, not the broker's: it refused this message for its size (NATS's
   * `max_payload`, a stream's `max_msg_size`, RabbitMQ's `max_message_size`), as it would on every attempt.
   */
  isMessageRefusal?(error: unknown): boolean;
  /**
   * Publish errors that say nobody takes the message's address: a routing key no queue is bound for (returned), a
   * subject no stream captures (no responders). The event's when the address is filled in from the event (see
   * {@link BrokerPublish.addressFromEvent}), the destination's when it is fixed.
   */
  isAddressRefusal?(error: unknown): boolean;
  /**
   * Of those refusals, the ones the client made before sending (NATS's `max_payload`, which nats.js checks against the
   * server's INFO): the broker was not asked, so the refusal says nothing of whether it is up. Every other one is the
   * broker's answer to this message (see {@link DeliveryResult.brokerAnswered}).
   */
  isUnsentRefusal?(error: unknown): boolean;
  /**
   * Of those refusals, the ones the broker made before it looked at the destination at all (RabbitMQ checks a
   * message against `max_message_size` before it looks for the exchange): sent and answered, but the answer says
   * nothing of whether the destination works, so it is not {@link DeliveryResult.brokerAnswered} either.
   */
  isRefusalBeforeDestination?(error: unknown): boolean;
}

/** One publish as the subclass describes it. */
export interface BrokerPublish {
  /** The span's name and attributes (OpenTelemetry messaging conventions). */
  spanName: string;
  /**
   * The routing key or subject is filled in from the event (its template names `{provider}` or `{eventType}`): an
   * address nobody takes is then the event's failure, not counted against the destination's circuit. Topic
   * exchanges' consumers bind the types they want, a stream may capture some subjects and not others: counted, one
   * unbound type's retries opened the circuit for every other type, and as the half-open probe it reopened it on each
   * retry without using its attempts. A fixed address is every event's, so nobody taking it is the destination's.
   */
  addressFromEvent: boolean;
  attributes: Attributes;
  /** Headers beyond the `webhook-*` / `x-webhook-*` values and the trace context. */
  extraHeaders?: Record<string, string>;
  /**
   * Sends the message with `headers`; resolves once the broker took it (confirm, ack). `expired` is aborted when
   * `timeoutMs` is up: nothing may be sent after it (the attempt has failed by then).
   */
  send(headers: Record<string, string>, span: Span, timeoutMs: number, expired: AbortSignal): Promise<void>;
}

/**
 * What every broker {@link Deliverer} shares: one long-lived connection per broker URL, a destination's slots (at
 * most `maxConcurrency` publishes in flight), and one publish's life: a producer span, the headers built and signed
 * once a slot is held (as the HTTP forwarder does), the trace context injected, the broker's receipt awaited within
 * `timeoutMs`, and the outcome as a {@link DeliveryResult}.
 */
export abstract class BrokerPublisher<C extends BrokerConnection> implements Deliverer {
  private readonly connections = new Map<string, C>();
  private readonly slots: DestinationSlots;
  private readonly webhookHeaders = new WebhookHeaders();
  protected readonly connectionName = `event-driven-integration-service worker ${hostname()} pid ${process.pid}`;

  protected constructor(
    protected readonly options: BrokerPublisherOptions,
    private readonly wording: BrokerWording,
  ) {
    this.slots = new DestinationSlots(options.defaultMaxConcurrency, options.beforeSend);
  }

  abstract deliver(event: DeliverableEvent, destination: Destination, message: OutgoingMessage, hooks?: DeliveryHooks): Promise<DeliveryResult>;

  /** A connection to `url`, for this publisher's broker (made on first use, kept for the process's life). */
  protected abstract connect(url: string): C;

  /** Publishes not yet holding a destination's slot are not started (see {@link DestinationSlots.stopStarting}). */
  stopStartingDeliveries(): void {
    this.slots.stopStarting();
  }

  /** Closes every broker connection. */
  async close(): Promise<void> {
    const connections = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(connections.map((connection) => connection.close()));
  }

  /** Connections open (one per broker URL), for tests and diagnostics. */
  get connectionCount(): number {
    return this.connections.size;
  }

  protected connectionFor(url: string): C {
    let connection = this.connections.get(url);
    if (!connection) {
      connection = this.connect(url);
      this.connections.set(url, connection);
    }
    return connection;
  }

  /**
   * An event this destination can never take as it is (its event type makes a subject NATS reserves, a routing key
   * over 255 bytes; a message over the destination's size limit): a failed attempt with result `internal_error`,
   * nothing sent. It is the event's, not the destination's: it takes no slot and does not count against the
   * circuit (`internal_error` never does), so the destination's other events go on.
   */
  protected unpublishable(event: DeliverableEvent, destination: Destination, reason: string): DeliveryResult {
    const error = errorText(reason, MAX_ERROR_MESSAGE);
    this.options.logger.warn('event cannot be published to this destination; recorded as a failed attempt', { eventId: event.id, destination: destination.name, error });
    return { destination: destination.name, succeeded: false, result: 'internal_error', statusCode: null, error, durationMs: 0 };
  }

  /** Runs one publish in the destination's slot and a producer span, and reads its outcome. */
  protected publish(event: DeliverableEvent, destination: Destination, message: OutgoingMessage, connection: C, publish: BrokerPublish, hooks?: DeliveryHooks): Promise<DeliveryResult> {
    const timeoutMs = destination.timeoutMs ?? this.options.defaultTimeoutMs;
    const send = () =>
      tracer.startActiveSpan(publish.spanName, { kind: SpanKind.PRODUCER, attributes: publish.attributes }, async (span): Promise<DeliveryResult> => {
        const started = performance.now();
        const elapsed = () => Math.round(performance.now() - started);
        // Case-insensitively, as WebhookHeaders merges the static ones: a static `Content-Type` is left out, not
        // published next to the publisher's own `content-type`.
        const headers = overrideHeaders(this.webhookHeaders.build(event, destination, message.body), publish.extraHeaders ?? {});
        propagation.inject(otelContext.active(), headers);
        try {
          const expiry = new AbortController();
          await withinDeadline(publish.send(headers, span, timeoutMs, expiry.signal), timeoutMs, expiry);
          return { destination: destination.name, succeeded: true, result: 'success', statusCode: null, error: null, durationMs: elapsed() };
        } catch (error) {
          const result = this.failure(destination.name, error, timeoutMs, connection, elapsed(), publish.addressFromEvent);
          span.setStatus({ code: SpanStatusCode.ERROR, message: result.error ?? result.result });
          return result;
        } finally {
          span.end();
        }
      });
    return this.slots.run(
      destination,
      async () => {
        const result = await send();
        await hooks?.afterSend?.(result);
        return result;
      },
      hooks,
    );
  }

  /**
   * A publish that did not end with the broker's receipt, as a failed attempt: `timeout` when the broker was
   * reachable but sent no receipt in time, `internal_error` when the broker refused the message for its size or
   * nobody takes an address filled in from the event (the event's failure, as a message over `maxMessageBytes` is:
   * it must not count against the destination's circuit, where one such event's retries opened it for every other
   * event, and one that became the half-open probe reopened it on each retry without using its attempts),
   * `network_error` for everything else the broker or the network did (unreachable, lost, refused, a fixed address
   * nobody takes). An `internal_error` the broker sent back for the destination is marked
   * {@link DeliveryResult.brokerAnswered}: as the half-open probe it closes the circuit (the broker answered), where
   * one the client made before sending, or the broker before it looked at the destination, decides nothing.
   */
  private failure(destination: string, error: unknown, timeoutMs: number, connection: C, durationMs: number, addressFromEvent: boolean): DeliveryResult {
    const { broker, receipt } = this.wording;
    const failed = (result: 'timeout' | 'network_error' | 'internal_error', message: string, brokerAnswered = false): DeliveryResult => ({
      destination,
      succeeded: false,
      result,
      statusCode: null,
      // The broker's or the client's words, kept in PostgreSQL: made printable there as an HTTP error answer is.
      error: errorText(message, MAX_ERROR_MESSAGE),
      durationMs,
      ...(brokerAnswered ? { brokerAnswered: true as const } : {}),
    });
    if (error instanceof DeadlineExceededError || this.wording.isTimeout?.(error)) {
      const unreachable = connection.unreachableReason;
      if (unreachable) return failed('network_error', `${broker} unreachable: ${unreachable}`);
      const held = connection.heldReason;
      return failed('timeout', `${connection.isConnected ? `no ${receipt}` : `no connection to ${broker}`} within ${timeoutMs} ms${held ? ` (${held})` : ''}`);
    }
    if (this.wording.isPublishError(error)) {
      const eventsOwn = this.wording.isMessageRefusal?.(error) || (addressFromEvent && this.wording.isAddressRefusal?.(error));
      if (!eventsOwn) return failed('network_error', error.message);
      // The event's, not the destination's; when the broker said so for the destination, it is up (a half-open
      // probe closes). Not when the client refused it unsent, nor when the broker refused it before it looked at
      // the destination: a half-open probe then decides nothing.
      const saysNothingOfDestination = this.wording.isUnsentRefusal?.(error) || this.wording.isRefusalBeforeDestination?.(error);
      return failed('internal_error', error.message, !saysNothingOfDestination);
    }
    return failed('network_error', `${(error as Error).name}: ${(error as Error).message}`);
  }
}
