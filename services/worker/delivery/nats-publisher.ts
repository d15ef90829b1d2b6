import { hostname } from 'node:os';
import { context as otelContext, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { natsSubjectProblem, renderAddress } from '../routing/address-template.js';
import type { Destination } from '../routing/route-table.js';
import { DeadlineExceededError, withinDeadline } from './deadline.js';
import type { BrokerPublisherOptions, DeliverableEvent, Deliverer, OutgoingMessage } from './deliverer.js';
import type { DeliveryResult } from './delivery-result.js';
import { DestinationSlots } from './destination-slots.js';
import { NatsConnection, NatsPublishError } from './nats-connection.js';
import { WebhookHeaders } from './webhook-headers.js';

const tracer = trace.getTracer('event-driven-integration-service/worker');

/**
 * The `nats` {@link Deliverer}: publishes to NATS JetStream on the subject from the destination's template
 * (`webhooks.{provider}.{eventType}`), and succeeds only once the stream capturing the subject acknowledged it. The
 * event id is `Nats-Msg-Id`, so a re-send within the stream's `duplicate_window` (a retry after a lost ack, a
 * replay) stores no second message; the ack then says `duplicate`, which is success. The `webhook-*` /
 * `x-webhook-*` values (the signature covering the bytes sent), the destination's static headers and `traceparent`
 * are NATS headers.
 *
 * Failed attempts: the server unreachable (at once, while it is down), a subject no stream captures (nothing answers
 * the publish: the error names the subject), the stream refusing the message, no ack within `timeoutMs`, a subject
 * the event type makes invalid. Streams are the operator's: the publisher creates none.
 */
export class NatsPublisher implements Deliverer {
  private readonly connections = new Map<string, NatsConnection>();
  private readonly slots: DestinationSlots;
  private readonly webhookHeaders = new WebhookHeaders();
  private readonly connectionName = `event-driven-integration-service worker ${hostname()} pid ${process.pid}`;

  constructor(private readonly options: BrokerPublisherOptions) {
    this.slots = new DestinationSlots(options.defaultMaxConcurrency);
  }

  async deliver(event: DeliverableEvent, destination: Destination, message: OutgoingMessage): Promise<DeliveryResult> {
    if (destination.type !== 'nats') throw new TypeError(`destination "${destination.name}" is not of type nats`);
    const subject = renderAddress(destination.subject, event);
    const problem = natsSubjectProblem(subject);
    // The event type is the provider's: a subject it makes invalid is this event's failed attempt.
    if (problem) throw new Error(`subject "${subject.slice(0, 200)}" ${problem}`);
    const connection = this.connectionFor(destination.url);
    const timeoutMs = destination.timeoutMs ?? this.options.defaultTimeoutMs;

    return this.slots.run(destination, () =>
      tracer.startActiveSpan(
        `${subject} publish`,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            'messaging.system': 'nats',
            'messaging.operation.type': 'send',
            'messaging.destination.name': subject,
            'messaging.message.id': event.id,
            'messaging.message.body.size': message.body.length,
          },
        },
        async (span): Promise<DeliveryResult> => {
          const started = performance.now();
          const elapsed = () => Math.round(performance.now() - started);
          const headers: Record<string, string> = {
            ...this.webhookHeaders.build(event, destination, message.body),
            'content-type': message.contentType || 'application/json',
          };
          propagation.inject(otelContext.active(), headers);
          try {
            const ack = await withinDeadline(connection.publish(subject, message.body, event.id, headers, timeoutMs), timeoutMs);
            span.setAttributes({ 'messaging.nats.stream': ack.stream, 'messaging.nats.sequence': ack.seq, 'messaging.nats.duplicate': ack.duplicate });
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

  /** Closes every server connection. */
  async close(): Promise<void> {
    const connections = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(connections.map((connection) => connection.close()));
  }

  /** Connections open (one per server URL), for tests and diagnostics. */
  get connectionCount(): number {
    return this.connections.size;
  }

  private connectionFor(url: string): NatsConnection {
    let connection = this.connections.get(url);
    if (!connection) {
      connection = new NatsConnection(url, this.options.logger, this.connectionName);
      this.connections.set(url, connection);
    }
    return connection;
  }
}

/** `timeout` when no ack came in time; `network_error` for everything the server or the network did. */
function failure(destination: string, error: unknown, timeoutMs: number, connection: NatsConnection, durationMs: number): DeliveryResult {
  if (error instanceof DeadlineExceededError || (error instanceof NatsPublishError && error.kind === 'timeout')) {
    const unreachable = connection.unreachableReason;
    if (unreachable) return { destination, succeeded: false, result: 'network_error', statusCode: null, error: `NATS unreachable: ${unreachable}`, durationMs };
    const what = connection.isConnected ? 'no ack from JetStream' : 'no connection to NATS';
    return { destination, succeeded: false, result: 'timeout', statusCode: null, error: `${what} within ${timeoutMs} ms`, durationMs };
  }
  const message = error instanceof NatsPublishError ? error.message : `${(error as Error).name}: ${(error as Error).message}`;
  return { destination, succeeded: false, result: 'network_error', statusCode: null, error: message, durationMs };
}
