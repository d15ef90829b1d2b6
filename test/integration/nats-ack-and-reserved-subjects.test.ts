import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { NatsPublisher } from '../../services/worker/delivery/nats-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { JetStreamTap, NATS_URL, uniqueSuffix } from './support/broker-taps.js';

// Review reproductions (rev-brokers). A NATS delivery counts as success whatever JSON answers the publish request:
// jetstream.publish() only rejects an ack whose `stream` is "", not one that has none. So
//  1. a plain core-NATS request/reply responder on the subject (nothing stored anywhere) makes every attempt a
//     "success" (COMPLETED, delivered, never retried), and
//  2. a subject template that starts with {eventType} lets a provider's event type name a JetStream API subject:
//     `$JS.API.STREAM.PURGE.<stream>` purges that stream (any JSON body is a valid purge request), counted a success.
// natsSubjectProblem() refuses wildcards and whitespace but not `$JS.` / `$SYS.` / `_INBOX.` subjects.

const sfx = uniqueSuffix();
const options = { defaultTimeoutMs: 3000, defaultMaxConcurrency: 4, logger: winston.createLogger({ silent: true }) };
const message = (text: string) => ({ body: Buffer.from(text), contentType: 'application/json' });
const natsDestination = (name: string, subject: string): Destination => ({ name, type: 'nats', url: NATS_URL, subject }) as Destination;

let jetstream: JetStreamTap;
let publisher: NatsPublisher;

beforeAll(async () => {
  jetstream = await JetStreamTap.open();
  publisher = new NatsPublisher(options);
});

afterAll(async () => {
  await publisher?.close();
  await jetstream?.close();
});

describe('NATS: what counts as a JetStream ack', () => {
  it('a reply that is not a JetStream ack (a core request/reply responder, nothing stored) is not a success', async () => {
    const subject = `rev-brokers-plain-${sfx}`;
    // A service answering requests on the subject (as a microservice might): `{}`, no stream, nothing stored.
    const sub = jetstream.nc.subscribe(`${subject}.>`, { callback: (_err, msg) => msg.respond(new TextEncoder().encode('{}')) });
    await jetstream.nc.flush();
    try {
      const result = await publisher.deliver({ id: randomUUID(), provider: 'testco', eventType: 'thing.happened' }, natsDestination('plain', `${subject}.{provider}.{eventType}`), message('{"a":1}'));
      // Observed: { succeeded: true, result: 'success' } although no stream stored anything.
      expect(result.succeeded).toBe(false);
    } finally {
      sub.unsubscribe();
    }
  });

  it('an event type cannot turn a subject into a JetStream API request (stream purge)', async () => {
    const victim = `REV_BROKERS_VICTIM_${sfx}`;
    await jetstream.createStream(victim, [`rev-brokers-victim-${sfx}.>`]);
    await jetstream.nc.publish(`rev-brokers-victim-${sfx}.order`, 'an order the stream must keep');
    await jetstream.nc.flush();
    await expect(jetstream.jsm.streams.info(victim).then((info) => info.state.messages)).resolves.toBe(1);

    // ROUTES_FILE accepts `subject: "{eventType}"` (the sample "event.type" is a valid subject); a Standard Webhooks /
    // HMAC provider's event type is any string of up to 255 characters from the signed body.
    const eventType = `$JS.API.STREAM.PURGE.${victim}`;
    const result = await publisher.deliver({ id: randomUUID(), provider: 'testco', eventType }, natsDestination('by-type', '{eventType}'), message('{"type":"x","data":{}}'));

    // Observed: the stream is purged (0 messages) and the attempt is a success.
    expect(await jetstream.jsm.streams.info(victim).then((info) => info.state.messages)).toBe(1);
    expect(result.succeeded).toBe(false);
  });
});
