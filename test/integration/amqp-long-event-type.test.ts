import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { AmqpPublisher, shortString } from '../../services/worker/delivery/amqp-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { AMQP_URL, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// An event type may be 255 characters; AMQP's `type` property holds 255 bytes. A longer UTF-8 type closed the channel
// on every attempt, so such an event could only be dead-lettered.

const sfx = uniqueSuffix();
const names = { exchange: `long-type-${sfx}`, queue: `long-type-all-${sfx}` };
let rabbit: RabbitTap;
const publisher = new AmqpPublisher({ defaultTimeoutMs: 3000, defaultMaxConcurrency: 4, logger: winston.createLogger({ silent: true }) });

beforeAll(async () => {
  rabbit = await RabbitTap.open();
  await rabbit.bindQueue(names.queue, names.exchange, '#');
});

afterAll(async () => {
  await publisher.close();
  await rabbit?.close();
});

describe('AMQP message type', () => {
  it('an event type of 255 characters but more bytes is published, its type property cut at a character boundary', async () => {
    const eventType = 'é'.repeat(95) + 'x'.repeat(160); // 255 characters, 350 bytes
    const event = { id: randomUUID(), provider: 'testco', eventType };
    const destination = { name: 'bus', type: 'amqp', url: AMQP_URL, exchange: names.exchange, routingKey: 'static.key' } as Destination;
    const result = await publisher.deliver(event, destination, { body: Buffer.from('{}'), contentType: 'application/json' });
    expect(result).toMatchObject({ succeeded: true, result: 'success' });
    const [stored] = await rabbit.messagesFor(names.queue, event.id);
    expect(Buffer.byteLength(stored!.properties.type as string)).toBeLessThanOrEqual(255);
    expect(eventType.startsWith(stored!.properties.type as string)).toBe(true);
    expect(stored!.properties.headers?.['x-webhook-event-type']).toBe(eventType);
  });

  it("an event type that makes the routing key over 255 bytes is that event's failed attempt, nothing sent: not an exception", async () => {
    // Thrown, it was recorded as a fault of the worker itself ("internal error: …", logged as an error on every
    // attempt); the Deliverer contract keeps exceptions for those. NATS reports its unusable subjects the same way.
    const event = { id: randomUUID(), provider: 'testco', eventType: 'x'.repeat(255) };
    const destination = { name: 'bus', type: 'amqp', url: AMQP_URL, exchange: names.exchange, routingKey: '{provider}.{eventType}' } as Destination;
    const result = await publisher.deliver(event, destination, { body: Buffer.from('{}'), contentType: 'application/json' });
    expect(result).toMatchObject({ destination: 'bus', succeeded: false, result: 'internal_error', statusCode: null });
    expect(result.error).toBe(`routing key "testco.${'x'.repeat(73)}…" is longer than 255 bytes; not sent`);
    expect(await rabbit.messagesFor(names.queue, event.id)).toEqual([]);
  });

  it('shortString keeps short values and never splits a character', () => {
    expect(shortString('invoice.paid')).toBe('invoice.paid');
    const cut = shortString('a' + '€'.repeat(100));
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(255);
    expect(cut).toBe('a' + '€'.repeat(84));
  });
});
