import { namesEventFields, natsSubjectProblem, renderAddress } from '../routing/address-template.js';
import type { Destination } from '../routing/route-table.js';
import { BrokerPublisher } from './broker-publisher.js';
import type { BrokerPublisherOptions, DeliverableEvent, DeliveryHooks, OutgoingMessage } from './deliverer.js';
import type { DeliveryResult } from './delivery-result.js';
import { isJetStreamAck } from './jetstream-ack.js';
import { DuplicateWindowCheck } from './jetstream-duplicate-window.js';
import { NatsConnection, NatsPublishError } from './nats-connection.js';

/**
 * The `nats` {@link Deliverer}: publishes to NATS JetStream on the subject from the destination's template
 * (`webhooks.{provider}.{eventType}`), and succeeds only once the stream capturing the subject acknowledged it.
 * `Nats-Msg-Id` is {@link natsMessageId} (the event id, the destination name, and the replay round after the first),
 * so a re-send of this delivery within the stream's `duplicate_window` (a retry after a lost ack) stores no second
 * message; the ack then says `duplicate`, which is success: an earlier attempt's publish was stored. A replay is a
 * new round, so it is stored again, as a replay promises. The event id alone would make a second destination whose
 * subject lands in the same stream a "duplicate" too: acked, counted a success, and never stored. The `webhook-*` /
 * `x-webhook-*` values (the signature covering the bytes sent), the destination's static headers and `traceparent`
 * are NATS headers (an event type a header cannot carry as it is goes percent-encoded: see WebhookHeaders).
 *
 * Failed attempts: the server unreachable (at once, while it is down), a subject no stream captures (nothing answers
 * the publish: the error names the subject; the event's, `internal_error`, when the template fills it in from the
 * event), an answer that is not a stream's ack (a service replying on the
 * subject), the stream refusing the message, no ack within `timeoutMs`, a subject the event type makes invalid or
 * reserved (`$JS.API.…`, `$SYS.…`, `_INBOX.…`: nothing is published), a message over the server's `max_payload` or
 * the stream's `max_msg_size` (the event's: `internal_error`). Streams are the operator's: the publisher
 * creates none.
 */
export class NatsPublisher extends BrokerPublisher<NatsConnection> {
  /** Each stream's `duplicate_window` against the retries, on its first ack (a warning when shorter). */
  readonly duplicateWindows: DuplicateWindowCheck;

  constructor(options: BrokerPublisherOptions) {
    super(options, {
      broker: 'NATS',
      receipt: 'ack from JetStream',
      isPublishError: (error) => error instanceof NatsPublishError,
      isTimeout: (error) => error instanceof NatsPublishError && error.kind === 'timeout',
      isMessageRefusal: (error) => error instanceof NatsPublishError && error.kind === 'too_large',
      isAddressRefusal: (error) => error instanceof NatsPublishError && error.kind === 'no_stream',
      isUnsentRefusal: (error) => error instanceof NatsPublishError && error.unsent,
    });
    this.duplicateWindows = new DuplicateWindowCheck(options.longestRetryGapMs ?? 0, options.logger);
  }

  async deliver(event: DeliverableEvent, destination: Destination, message: OutgoingMessage, hooks?: DeliveryHooks): Promise<DeliveryResult> {
    if (destination.type !== 'nats') throw new TypeError(`destination "${destination.name}" is not of type nats`);
    const subject = renderAddress(destination.subject, event);
    const problem = natsSubjectProblem(subject);
    // The event type is the provider's: a subject it makes invalid, or reserved ($JS.API.…, _INBOX.…: ROUTES_FILE
    // refuses templates whose root an event fills in, and this holds for any other way in), is this event's failed
    // attempt, and nothing is published.
    if (problem) return this.unpublishable(event, destination, `subject "${subject.slice(0, 200)}" ${problem}`);
    const connection = this.connectionFor(destination.url);
    const messageId = natsMessageId(event.id, destination.name, event.replays ?? 0);
    return this.publish(event, destination, message, connection, {
      spanName: `${subject} publish`,
      addressFromEvent: namesEventFields(destination.subject),
      attributes: {
        'messaging.system': 'nats',
        'messaging.operation.type': 'send',
        'messaging.destination.name': subject,
        'messaging.message.id': messageId,
        'messaging.message.body.size': message.body.length,
      },
      extraHeaders: { 'content-type': message.contentType || 'application/json' },
      send: async (headers, span, timeoutMs, expired) => {
        const ack = await connection.publish(subject, message.body, messageId, headers, timeoutMs, expired);
        // Only a stream's ack says the message was stored; any other answer (a service replying on the subject) is
        // not a delivery.
        if (!isJetStreamAck(ack)) {
          throw new NatsPublishError('refused', `the answer on subject "${subject.slice(0, 200)}" is not a JetStream ack (${JSON.stringify(ack).slice(0, 120)}): no stream said it stored the message; is something other than a stream answering requests on the subject?`);
        }
        span.setAttributes({ 'messaging.nats.stream': ack.stream, 'messaging.nats.sequence': ack.seq, 'messaging.nats.duplicate': ack.duplicate });
        this.duplicateWindows.afterAck(connection, ack.stream, destination.name);
        // The id names this round's delivery, so the stream holds a message of this round already: an earlier attempt
        // published it and its ack was lost (a timeout, a broken connection). The destination has it: success, said
        // so here, as the attempt row cannot tell it from a first publish.
        if (ack.duplicate) {
          this.options.logger.info('JetStream already held this delivery: an earlier attempt of this round stored it; counted as delivered', {
            eventId: event.id,
            destination: destination.name,
            messageId,
            stream: ack.stream,
            sequence: ack.seq,
          });
        }
      },
    }, hooks);
  }

  protected connect(url: string): NatsConnection {
    return new NatsConnection(url, this.options.logger, this.connectionName);
  }
}

/**
 * The `Nats-Msg-Id` of one event's delivery to one destination in one replay round: `<event id>:<destination name>`,
 * and `<event id>:<destination name>:<round>` from the first replay on. JetStream deduplicates on it per stream, so it
 * must be the same on every retry within a round (a retry after a lost ack stores nothing new), differ between
 * rounds (a replay sends the event again: within the duplicate window the same id was acked `duplicate` and stored
 * nothing, so the replay was silently dropped yet recorded a success), and differ between destinations (two
 * destinations may publish one event, in two shapes, to subjects one stream captures: each must be stored). Round 0
 * keeps the form ids had before rounds were part of them. Consumers identify the event by the `webhook-id` header, the
 * event id. Destination names are `[A-Za-z0-9_.-]`, so the id is a valid header value.
 */
export function natsMessageId(eventId: string, destinationName: string, replays = 0): string {
  return replays === 0 ? `${eventId}:${destinationName}` : `${eventId}:${destinationName}:${replays}`;
}
