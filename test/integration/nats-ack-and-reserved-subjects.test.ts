import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { NatsPublisher } from '../../services/worker/delivery/nats-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { JetStreamTap, NATS_URL, uniqueSuffix } from './support/broker-taps.js';

// A NATS delivery succeeds only on a stream's ack. nats.js's jetstream.publish() takes any JSON answer without an
// `error` for an ack (it refuses only `"stream": ""`), so
//  1. a plain request/reply responder on the subject (nothing stored anywhere) made every attempt a "success", and
//  2. a subject template starting with {eventType} let a provider's event type name a JetStream API subject:
//     `$JS.API.STREAM.PURGE.<stream>` purged that stream (any JSON body is a valid purge request), and the purge's
//     answer counted as an ack. Such subjects are now refused before anything is published (and ROUTES_FILE refuses
//     templates whose first token is not literal: test/unit/routes-file-routing-power.test.ts).

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
  it('an answer that is not a stream’s ack (a request/reply responder on the subject, nothing stored) is a failed attempt naming the subject', async () => {
    const subject = `nats-plain-responder-${sfx}`;
    // A service answering requests on the subject (as a microservice might): `{}`, no stream, nothing stored.
    const sub = jetstream.nc.subscribe(`${subject}.>`, { callback: (_err, msg) => void msg.respond(new TextEncoder().encode('{}')) });
    await jetstream.nc.flush();
    try {
      const result = await publisher.deliver({ id: randomUUID(), provider: 'testco', eventType: 'thing.happened' }, natsDestination('plain', `${subject}.{provider}.{eventType}`), message('{"a":1}'));
      expect(result).toMatchObject({ succeeded: false, result: 'network_error' });
      expect(result.error).toContain(`subject "${subject}.testco.thing.happened" is not a JetStream ack`);
    } finally {
      sub.unsubscribe();
    }
  });

  it('a stream’s ack is still a success', async () => {
    const stream = `NATS_ACKED_${sfx}`;
    await jetstream.createStream(stream, [`nats-acked-${sfx}.>`]);
    const result = await publisher.deliver({ id: randomUUID(), provider: 'testco', eventType: 'thing.happened' }, natsDestination('acked', `nats-acked-${sfx}.{eventType}`), message('{}'));
    expect(result).toMatchObject({ succeeded: true, error: null });
    expect((await jetstream.messages(stream)).length).toBe(1);
  });
});

describe('NATS: an event type cannot choose a reserved subject', () => {
  it('`$JS.API.STREAM.PURGE.<stream>` as the event type of a `{eventType}` subject purges nothing and is a failed attempt', async () => {
    const victim = `NATS_VICTIM_${sfx}`;
    await jetstream.createStream(victim, [`nats-victim-${sfx}.>`]);
    await jetstream.nc.publish(`nats-victim-${sfx}.order`, 'an order the stream must keep');
    await jetstream.nc.flush();
    await expect(jetstream.jsm.streams.info(victim).then((info) => info.state.messages)).resolves.toBe(1);

    // A destination built by hand (ROUTES_FILE refuses this template); a Standard Webhooks / HMAC provider's event
    // type is any string of up to 255 characters from the signed body.
    const eventType = `$JS.API.STREAM.PURGE.${victim}`;
    const result = await publisher.deliver({ id: randomUUID(), provider: 'testco', eventType }, natsDestination('by-type', '{eventType}'), message('{"type":"x","data":{}}'));

    expect(await jetstream.jsm.streams.info(victim).then((info) => info.state.messages)).toBe(1);
    // The event's problem, not the destination's: internal_error never counts against the circuit.
    expect(result).toMatchObject({ succeeded: false, result: 'internal_error' });
    expect(result.error).toMatch(/^subject "\$JS\.API\.STREAM\.PURGE\.\S+" starts with "\$JS", which NATS reserves/);
  });

  it.each([['$SYS.REQ.SERVER.PING'], ['_INBOX.someone-elses-request'], ['$KV.bucket.key']])('%s is refused as well', async (eventType) => {
    // Whatever would be published on the subject is seen here.
    const seen: string[] = [];
    const sub = jetstream.nc.subscribe(eventType, { callback: (_err, msg) => void seen.push(msg.subject) });
    await jetstream.nc.flush();
    try {
      const result = await publisher.deliver({ id: randomUUID(), provider: 'testco', eventType }, natsDestination('by-type', '{eventType}'), message('{}'));
      expect(result).toMatchObject({ succeeded: false, result: 'internal_error' });
      await jetstream.nc.flush();
      expect(seen).toEqual([]);
    } finally {
      sub.unsubscribe();
    }
  });
});
