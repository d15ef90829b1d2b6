import { amqpRoutingKeyProblem, namesEventFields, renderAddress } from '../routing/address-template.js';
import type { Destination } from '../routing/route-table.js';
import { AmqpConnection } from './amqp-connection.js';
import { AmqpPublishError } from './amqp-publish-error.js';
import { BrokerPublisher } from './broker-publisher.js';
import type { BrokerPublisherOptions, DeliverableEvent, DeliveryHooks, OutgoingMessage } from './deliverer.js';
import type { DeliveryResult } from './delivery-result.js';

/**
 * The `amqp` {@link Deliverer}: publishes to RabbitMQ. A message goes to the destination's durable topic exchange
 * with the routing key from its template (`{provider}.{eventType}`), persistent, `mandatory`, with publisher
 * confirms: the attempt succeeds only when the broker confirmed the message, so it is on disk in every queue it was
 * routed to. The event id is the `messageId`; the `webhook-*` / `x-webhook-*` values (the signature covering the
 * bytes sent), the destination's static headers and the trace context (`traceparent`) are message headers.
 *
 * Failed attempts (retried like any other, then dead-lettered): the broker unreachable or blocking publishing (at
 * once, nothing sent), no confirm within `timeoutMs`, the connection lost before the confirm, a nack, a routing key no
 * queue is bound for (returned; the event's, `internal_error`, when the template fills it in from the event), an exchange that exists with another type, the broker closing the channel over the
 * message (404 exchange deleted; 406 over `max_message_size`, which is the event's: `internal_error`), a message over
 * the destination's `maxMessageBytes` or a routing key the event type makes longer than AMQP's 255 bytes (not sent;
 * `internal_error`, the event's). A publish whose confirm was lost may have reached the queue: its retry sends it again with the same
 * `messageId` (at least once; consumers deduplicate on it).
 */
export class AmqpPublisher extends BrokerPublisher<AmqpConnection> {
  constructor(options: BrokerPublisherOptions) {
    super(options, {
      broker: 'RabbitMQ',
      receipt: 'confirm from RabbitMQ',
      isPublishError: (error) => error instanceof AmqpPublishError,
      isMessageRefusal: (error) => error instanceof AmqpPublishError && error.kind === 'too_large',
      isAddressRefusal: (error) => error instanceof AmqpPublishError && error.kind === 'unroutable',
      // RabbitMQ refuses a message over max_message_size before it looks for the exchange (a 406 comes even for an
      // exchange that does not exist): the refusal says the node is up, nothing of this destination. As the
      // half-open probe, counted as the broker's answer, it closed a circuit whose exchange was gone.
      isRefusalBeforeDestination: (error) => error instanceof AmqpPublishError && error.kind === 'too_large',
    });
  }

  async deliver(event: DeliverableEvent, destination: Destination, message: OutgoingMessage, hooks?: DeliveryHooks): Promise<DeliveryResult> {
    if (destination.type !== 'amqp') throw new TypeError(`destination "${destination.name}" is not of type amqp`);
    const { exchange } = destination;
    const routingKey = renderAddress(destination.routingKey, event);
    const problem = amqpRoutingKeyProblem(routingKey);
    // The event type is the provider's: a routing key it makes unusable is this event's failed attempt, nothing sent
    // (not an exception, which the processor records as a fault of the worker's own, logged as an error).
    if (problem) return this.unpublishable(event, destination, `routing key "${routingKey.slice(0, 80)}…" ${problem}; not sent`);
    const { maxMessageBytes } = destination;
    if (maxMessageBytes !== undefined && message.body.length > maxMessageBytes) {
      return this.unpublishable(
        event,
        destination,
        `message of ${message.body.length} bytes is over destination "${destination.name}"'s maxMessageBytes (${maxMessageBytes}); not sent: RabbitMQ would refuse it (max_message_size) on every attempt`,
      );
    }
    const connection = this.connectionFor(destination.url);
    return this.publish(event, destination, message, connection, {
      spanName: `${exchange} publish`,
      addressFromEvent: namesEventFields(destination.routingKey),
      attributes: {
        'messaging.system': 'rabbitmq',
        'messaging.operation.type': 'send',
        'messaging.destination.name': exchange,
        'messaging.rabbitmq.destination.routing_key': routingKey,
        'messaging.message.id': event.id,
        'messaging.message.body.size': message.body.length,
      },
      send: (headers, _span, _timeoutMs, expired) =>
        connection.publish(
          exchange,
          routingKey,
          message.body,
          {
            messageId: event.id,
            contentType: message.contentType || 'application/json',
            headers,
            timestamp: Number(headers['webhook-timestamp']),
            type: shortString(event.eventType),
            appId: 'event-driven-integration-service',
          },
          expired,
          // A channel of the destination's own: another destination's message the broker refuses closes only its own.
          destination.name,
        ),
    }, hooks);
  }

  protected connect(url: string): AmqpConnection {
    return new AmqpConnection(url, this.options.logger, this.connectionName);
  }
}

/**
 * A value for an AMQP short-string property (`type`): at most 255 bytes, cut at a character boundary. An event type
 * may be 255 characters, which in UTF-8 can be more bytes than the property holds, and RabbitMQ then closed the
 * channel on every attempt, so the event could only be dead-lettered. The full type is in the message's headers.
 */
export function shortString(value: string): string {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= 255) return value;
  let end = 255;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
