import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { NatsPublisher } from '../../services/worker/delivery/nats-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { JetStreamTap, NATS_URL, natsHeaders, uniqueSuffix } from './support/broker-taps.js';

// The event type is the provider's string: the ingress takes any non-blank string of up to 255 characters (a line
// break included), and it goes out as the `x-webhook-event-type` header. NATS headers cannot hold a line break: nats.js
// throws InvalidArgumentError while the headers are built, and the publisher reports it as `network_error`, the
// destination's failure. So one event makes every attempt fail until it is dead-lettered, and each attempt counts
// against the destination's circuit breaker (network_error is a destination failure), where the publisher's own rule
// for an event the destination can never take (a reserved subject, an over-long routing key) is `internal_error`,
// not counted. RabbitMQ takes the same event. nats.js also trims header values, so an event type with leading or
// trailing blanks reaches consumers as another string than the one stored.
// nats.js trims header values when it reads them too, so no publisher can make a consumer read the blanks verbatim:
// such an event type goes percent-encoded (README, NATS JetStream), and the consumer decodes it.

const sfx = uniqueSuffix();
const stream = `EVTYPE_${sfx}`;
const options = { defaultTimeoutMs: 3000, defaultMaxConcurrency: 4, logger: winston.createLogger({ silent: true }) };
// A subject that does not name the event type: the type is only in the headers.
const destination = { name: 'all', type: 'nats', url: NATS_URL, subject: `evtype-${sfx}.all` } as Destination;
const message = { body: Buffer.from('{}'), contentType: 'application/json' };

let jetstream: JetStreamTap;
let publisher: NatsPublisher;

beforeAll(async () => {
  jetstream = await JetStreamTap.open();
  await jetstream.createStream(stream, [`evtype-${sfx}.>`]);
  publisher = new NatsPublisher(options);
});

afterAll(async () => {
  await publisher?.close();
  await jetstream?.close();
});

describe('NATS: the event type in the message headers', () => {
  it('an event type with a line break is not a destination failure (network_error, counted against its circuit)', async () => {
    const event = { id: randomUUID(), provider: 'testco', eventType: 'invoice.paid\nx' };
    const result = await publisher.deliver(event, destination, message);
    // What happens: { result: 'network_error', error: "InvalidArgumentError: 'header' values cannot contain \r or \n" }.
    expect(result.succeeded || result.result === 'internal_error').toBe(true);
    if (result.succeeded) {
      const [stored] = await jetstream.messagesFor(stream, event.id);
      expect(decodeURIComponent(natsHeaders(stored!)['x-webhook-event-type']!)).toBe('invoice.paid\nx');
    }
  });

  it('carries the event type as stored, not trimmed (percent-encoded: nats.js trims what it reads as well)', async () => {
    const event = { id: randomUUID(), provider: 'testco', eventType: ' invoice.paid ' };
    expect((await publisher.deliver(event, destination, message)).succeeded).toBe(true);
    const [stored] = await jetstream.messagesFor(stream, event.id);
    // What happens: "invoice.paid".
    const header = natsHeaders(stored!)['x-webhook-event-type']!;
    expect({ header, decoded: decodeURIComponent(header) }).toEqual({ header: '%20invoice.paid%20', decoded: ' invoice.paid ' });
  });
});
