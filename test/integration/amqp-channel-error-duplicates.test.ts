import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import amqp from 'amqplib';
import winston from 'winston';
import { AmqpPublisher } from '../../services/worker/delivery/amqp-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { AMQP_URL, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// Every destination on one RabbitMQ URL publishes on one shared confirm channel. When one message makes the broker
// close that channel (404: its exchange was deleted; 406: over max_message_size, on every retry of that event when
// maxMessageBytes is not set), every other publish awaiting its confirm there is "sent again once, each on a channel
// of its own" (README). But RabbitMQ had already routed (enqueued) every message written before the culprit: only its
// confirm was outstanding. Sent again, each of those is enqueued a second time, so a destination with nothing wrong
// gets hundreds of duplicates because of another destination's problem, with no broker restart or network fault (the
// README names a restart cutting off a confirm as the case that re-sends).

const sfx = uniqueSuffix();
const logger = winston.createLogger({ silent: true });
const options = { defaultTimeoutMs: 8000, defaultMaxConcurrency: 1000, logger };
const message = { body: Buffer.from('{"n":1}'), contentType: 'application/json' };
const event = () => ({ id: randomUUID(), provider: 'testco', eventType: 'thing.happened' });
const destination = (name: string, exchange: string): Destination =>
  ({ name, type: 'amqp', url: AMQP_URL, exchange, routingKey: '{provider}.{eventType}' }) as Destination;

let rabbit: RabbitTap;

beforeAll(async () => {
  rabbit = await RabbitTap.open();
});

afterAll(async () => {
  await rabbit?.close();
});

describe("another destination's channel error on the shared confirm channel", () => {
  it('does not enqueue a healthy destination’s in-flight messages twice', async () => {
    const [gone, kept] = [`dup-gone-${sfx}`, `dup-kept-${sfx}`];
    await rabbit.bindQueue(`${kept}-q`, kept, '#');
    rabbit.forget(gone);
    const publisher = new AmqpPublisher(options);
    try {
      // Both exchanges declared (first publish of each), then the operator deletes one.
      await publisher.deliver(event(), destination('gone', gone), message);
      expect((await publisher.deliver(event(), destination('kept', kept), message)).succeeded).toBe(true);
      await rabbit.messages(`${kept}-q`);
      const admin = await amqp.connect(AMQP_URL);
      await (await admin.createChannel()).deleteExchange(gone);
      await admin.close();

      // 400 events in flight to the healthy destination, one to the deleted exchange among them.
      const keptEvents = Array.from({ length: 400 }, event);
      const deliveries = keptEvents.map((keptEvent) => publisher.deliver(keptEvent, destination('kept', kept), message));
      deliveries.splice(200, 0, publisher.deliver(event(), destination('gone', gone), message));
      const results = await Promise.all(deliveries);
      expect(results.filter((r) => r.destination === 'kept' && !r.succeeded)).toEqual([]);

      const copies = new Map<string, number>();
      for (const stored of await rabbit.messages(`${kept}-q`)) copies.set(stored.properties.messageId, (copies.get(stored.properties.messageId) ?? 0) + 1);
      const twice = keptEvents.filter((keptEvent) => (copies.get(keptEvent.id) ?? 0) > 1).length;
      // What happens: some 150-250 of the 400 healthy destination's events are in its queue twice.
      expect({ missing: keptEvents.filter((keptEvent) => !copies.has(keptEvent.id)).length, storedTwice: twice }).toEqual({ missing: 0, storedTwice: 0 });
    } finally {
      await publisher.close();
    }
  });
});
