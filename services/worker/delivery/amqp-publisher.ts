import { hostname } from 'node:os';
import { context as otelContext, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { amqpRoutingKeyProblem, renderAddress } from '../routing/address-template.js';
import type { Destination } from '../routing/route-table.js';
import { AmqpConnection, AmqpPublishError } from './amqp-connection.js';
import { DeadlineExceededError, withinDeadline } from './deadline.js';
import type { BrokerPublisherOptions, DeliverableEvent, Deliverer, OutgoingMessage } from './deliverer.js';
import type { DeliveryResult } from './delivery-result.js';
import { DestinationSlots } from './destination-slots.js';
import { WebhookHeaders } from './webhook-headers.js';

const tracer = trace.getTracer('event-driven-integration-service/worker');

/**
 * The `amqp` {@link Deliverer}: publishes to RabbitMQ. A message goes to the destination's durable topic exchange
 * with the routing key from its template (`{provider}.{eventType}`), persistent, `mandatory`, with publisher
 * confirms: the attempt succeeds only when the broker confirmed the message, so it is on disk in every queue it was
 * routed to. The event id is the `messageId`; the `webhook-*` / `x-webhook-*` values (the signature covering the
 * bytes sent), the destination's static headers and the trace context (`traceparent`) are message headers.
 *
 * Failed attempts (retried like any other, then dead-lettered): the broker unreachable (at once, while it is down),
 * no confirm within `timeoutMs`, the connection lost before the confirm, a nack, a routing key no queue is bound for
 * (returned), an exchange that exists with another type. A publish whose confirm was lost may have reached the queue:
 * its retry sends it again with the same `messageId` (at least once; consumers deduplicate on it).
 */
export class AmqpPublisher implements Deliverer {
  private readonly connections = new Map<string, AmqpConnection>();
  private readonly slots: DestinationSlots;
  private readonly webhookHeaders = new WebhookHeaders();
  private readonly connectionName = `event-driven-integration-service worker ${hostname()} pid ${process.pid}`;

  constructor(private readonly options: BrokerPublisherOptions) {
    this.slots = new DestinationSlots(options.defaultMaxConcurrency);
  }

  async deliver(event: DeliverableEvent, destination: Destination, message: OutgoingMessage): Promise<DeliveryResult> {
    if (destination.type !== 'amqp') throw new TypeError(`destination "${destination.name}" is not of type amqp`);
    const { exchange } = destination;
    const routingKey = renderAddress(destination.routingKey, event);
    const problem = amqpRoutingKeyProblem(routingKey);
    // The event type is the provider's: a routing key it makes unusable is this event's failed attempt.
    if (problem) throw new Error(`routing key "${routingKey.slice(0, 80)}…" ${problem}`);
    const connection = this.connectionFor(destination.url);
    const timeoutMs = destination.timeoutMs ?? this.options.defaultTimeoutMs;

    return this.slots.run(destination, () =>
      tracer.startActiveSpan(
        `${exchange} publish`,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            'messaging.system': 'rabbitmq',
            'messaging.operation.type': 'send',
            'messaging.destination.name': exchange,
            'messaging.rabbitmq.destination.routing_key': routingKey,
            'messaging.message.id': event.id,
            'messaging.message.body.size': message.body.length,
          },
        },
        async (span): Promise<DeliveryResult> => {
          const started = performance.now();
          const elapsed = () => Math.round(performance.now() - started);
          // Signed and timestamped once a slot is held, as the HTTP forwarder does.
          const headers: Record<string, string> = this.webhookHeaders.build(event, destination, message.body);
          propagation.inject(otelContext.active(), headers);
          try {
            await withinDeadline(
              connection.publish(exchange, routingKey, message.body, {
                messageId: event.id,
                contentType: message.contentType || 'application/json',
                headers,
                timestamp: Number(headers['webhook-timestamp']),
                type: event.eventType,
                appId: 'event-driven-integration-service',
              }),
              timeoutMs,
            );
            return { destination: destination.name, succeeded: true, result: 'success', statusCode: null, error: null, durationMs: elapsed() };
          } catch (error) {
            const result = failure(destination.name, error, timeoutMs, connection, elapsed());
            span.setStatus({ code: SpanStatusCode.ERROR, message: result.error ?? result.result });
            return result;
          } finally {
            span.end();
          }
        },
      ),
    );
  }

  /** Closes every broker connection (publishes awaiting a confirm fail as `lost`). */
  async close(): Promise<void> {
    const connections = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(connections.map((connection) => connection.close()));
  }

  /** Connections open (one per broker URL), for tests and diagnostics. */
  get connectionCount(): number {
    return this.connections.size;
  }

  private connectionFor(url: string): AmqpConnection {
    let connection = this.connections.get(url);
    if (!connection) {
      connection = new AmqpConnection(url, this.options.logger, this.connectionName);
      this.connections.set(url, connection);
    }
    return connection;
  }
}

/**
 * A publish that did not end confirmed, as a failed attempt: `timeout` when the broker was connected but did not
 * confirm in time, `network_error` for everything the broker or the network did (unreachable, lost, refused).
 */
function failure(destination: string, error: unknown, timeoutMs: number, connection: AmqpConnection, durationMs: number): DeliveryResult {
  if (error instanceof DeadlineExceededError) {
    const unreachable = connection.unreachableReason;
    if (unreachable) return { destination, succeeded: false, result: 'network_error', statusCode: null, error: `RabbitMQ unreachable: ${unreachable}`, durationMs };
    const what = connection.isConnected ? 'no confirm from RabbitMQ' : 'no connection to RabbitMQ';
    return { destination, succeeded: false, result: 'timeout', statusCode: null, error: `${what} within ${timeoutMs} ms`, durationMs };
  }
  const message = error instanceof AmqpPublishError ? error.message : `${(error as Error).name}: ${(error as Error).message}`;
  return { destination, succeeded: false, result: 'network_error', statusCode: null, error: message, durationMs };
}
