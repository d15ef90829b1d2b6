import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { NatsPublisher } from '../../services/worker/delivery/nats-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { JetStreamTap, NATS_URL, uniqueSuffix } from './support/broker-taps.js';

// NATS refuses a message whose payload and headers are over the server's max_payload (1 MiB by default, which is
// also MAX_BODY_BYTES's default: with the headers a delivery carries, an event of the largest accepted size cannot be
// published). nats.js says only "'payload' max_payload size exceeded"; the failed attempt now gives the sizes and
// the server's limit, and what to change.

const sfx = uniqueSuffix();
const stream = `NATS_MAX_PAYLOAD_${sfx}`;
const destination = { name: 'stream', type: 'nats', url: NATS_URL, subject: `nats-max-payload-${sfx}.{eventType}` } as Destination;
const event = () => ({ id: randomUUID(), provider: 'testco', eventType: 'thing.happened' });

let jetstream: JetStreamTap;
let publisher: NatsPublisher;
let maxPayload: number;

beforeAll(async () => {
  jetstream = await JetStreamTap.open();
  await jetstream.createStream(stream, [`nats-max-payload-${sfx}.>`]);
  maxPayload = jetstream.nc.info!.max_payload;
  publisher = new NatsPublisher({ defaultTimeoutMs: 3000, defaultMaxConcurrency: 4, logger: winston.createLogger({ silent: true }) });
});

afterAll(async () => {
  await publisher?.close();
  await jetstream?.close();
});

describe('NATS: a message over the server’s max_payload', () => {
  it('an event of exactly max_payload bytes fails (its headers come on top), naming the sizes and the server’s limit; nothing is stored', async () => {
    const result = await publisher.deliver(event(), destination, { body: Buffer.alloc(maxPayload, 97), contentType: 'application/json' });
    expect(result).toMatchObject({ succeeded: false, result: 'internal_error' });
    const sizes = /(\d+) bytes \(payload (\d+) \+ headers (\d+)\) is over the server's max_payload of (\d+) bytes/.exec(result.error ?? '');
    expect(sizes).not.toBeNull();
    const [, total, payload, headers, limit] = sizes!.map(Number);
    expect({ payload, limit, sum: payload! + headers! }).toEqual({ payload: maxPayload, limit: maxPayload, sum: total });
    expect(headers).toBeGreaterThan(100);
    expect(result.error).toContain('raise max_payload on the server, or lower MAX_BODY_BYTES');
    // Refused by the client before sending: the server was not asked, so as a half-open probe it decides nothing.
    expect(result.brokerAnswered).toBeUndefined();
    expect(await jetstream.messages(stream)).toHaveLength(0);
  });

  it('one that fits with its headers is stored', async () => {
    const result = await publisher.deliver(event(), destination, { body: Buffer.alloc(maxPayload - 4096, 97), contentType: 'application/json' });
    expect(result).toMatchObject({ succeeded: true });
    expect(await jetstream.messages(stream)).toHaveLength(1);
  });
});
