import { natsSubjectProblem, renderAddress } from '../routing/address-template.js';
import type { Destination } from '../routing/route-table.js';
import { BrokerPublisher } from './broker-publisher.js';
import type { BrokerPublisherOptions, DeliverableEvent, DeliveryHooks, OutgoingMessage } from './deliverer.js';
import type { DeliveryResult } from './delivery-result.js';
import { NatsConnection, NatsPublishError } from './nats-connection.js';

/**
 * The `nats` {@link Deliverer}: publishes to NATS JetStream on the subject from the destination's template
 * (`webhooks.{provider}.{eventType}`), and succeeds only once the stream capturing the subject acknowledged it.
 * `Nats-Msg-Id` is {@link natsMessageId} (the event id and the destination name), so a re-send of this delivery
 * within the stream's `duplicate_window` (a retry after a lost ack, a replay) stores no second message; the ack then
 * says `duplicate`, which is success. The event id alone would make a second destination whose subject lands in the
 * same stream a "duplicate" too: acked, counted a success, and never stored. The `webhook-*` /
 * `x-webhook-*` values (the signature covering the bytes sent), the destination's static headers and `traceparent`
 * are NATS headers.
 *
 * Failed attempts: the server unreachable (at once, while it is down), a subject no stream captures (nothing answers
 * the publish: the error names the subject), the stream refusing the message, no ack within `timeoutMs`, a subject
 * the event type makes invalid. Streams are the operator's: the publisher creates none.
 */
export class NatsPublisher extends BrokerPublisher<NatsConnection> {
  constructor(options: BrokerPublisherOptions) {
    super(options, {
      broker: 'NATS',
      receipt: 'ack from JetStream',
      isPublishError: (error) => error instanceof NatsPublishError,
      isTimeout: (error) => error instanceof NatsPublishError && error.kind === 'timeout',
    });
  }

  async deliver(event: DeliverableEvent, destination: Destination, message: OutgoingMessage, hooks?: DeliveryHooks): Promise<DeliveryResult> {
    if (destination.type !== 'nats') throw new TypeError(`destination "${destination.name}" is not of type nats`);
    const subject = renderAddress(destination.subject, event);
    const problem = natsSubjectProblem(subject);
    // The event type is the provider's: a subject it makes invalid is this event's failed attempt.
    if (problem) throw new Error(`subject "${subject.slice(0, 200)}" ${problem}`);
    const connection = this.connectionFor(destination.url);
    const messageId = natsMessageId(event.id, destination.name);
    return this.publish(event, destination, message, connection, {
      spanName: `${subject} publish`,
      attributes: {
        'messaging.system': 'nats',
        'messaging.operation.type': 'send',
        'messaging.destination.name': subject,
        'messaging.message.id': messageId,
        'messaging.message.body.size': message.body.length,
      },
      extraHeaders: { 'content-type': message.contentType || 'application/json' },
      send: async (headers, span, timeoutMs) => {
        const ack = await connection.publish(subject, message.body, messageId, headers, timeoutMs);
        span.setAttributes({ 'messaging.nats.stream': ack.stream, 'messaging.nats.sequence': ack.seq, 'messaging.nats.duplicate': ack.duplicate });
      },
    }, hooks);
  }

  protected connect(url: string): NatsConnection {
    return new NatsConnection(url, this.options.logger, this.connectionName);
  }
}

/**
 * The `Nats-Msg-Id` of one event's delivery to one destination: `<event id>:<destination name>`. JetStream
 * deduplicates on it per stream, so it must be the same on every retry and replay of that delivery (they store
 * nothing new) and differ between destinations (two destinations may publish one event, in two shapes, to subjects
 * one stream captures: each must be stored). Consumers identify the event by the `webhook-id` header, the event id.
 * Destination names are `[A-Za-z0-9_.-]`, so the id is a valid header value.
 */
export function natsMessageId(eventId: string, destinationName: string): string {
  return `${eventId}:${destinationName}`;
}
