import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import amqp from 'amqplib';
import winston from 'winston';
import { AmqpPublisher } from '../../services/worker/delivery/amqp-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { AMQP_URL, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// Review reproductions (rev-brokers). AmqpConnection shares one declaration channel and one confirm channel per
// broker URL. A broker error that closes a channel is a channel-level error (406, 404), so one destination's problem
// fails every other destination's operation in flight on that channel, and the failures read "channel closed" / "cannot
// be used as a durable topic exchange" without the broker's reason. These count as failed attempts (and against
// circuit breakers) of destinations that are configured correctly.

const sfx = uniqueSuffix();
const options = { defaultTimeoutMs: 3000, defaultMaxConcurrency: 16, logger: winston.createLogger({ silent: true }) };
const message = { body: Buffer.from('{}'), contentType: 'application/json' };
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

describe('AMQP: one destination’s channel error and the others', () => {
  it('an exchange of another type fails only its own destination, not the declarations of correct ones', async () => {
    const wrongType = `rev-brokers-direct-${sfx}`;
    const good = [1, 2, 3].map((n) => `rev-brokers-good-${n}-${sfx}`);
    // The misconfigured destination's exchange exists as a direct exchange.
    const admin = await amqp.connect(AMQP_URL);
    const channel = await admin.createChannel();
    await channel.assertExchange(wrongType, 'direct', { durable: true });
    await admin.close();
    rabbit.forget(wrongType);
    for (const exchange of good) await rabbit.bindQueue(`${exchange}-q`, exchange, '#');

    const publisher = new AmqpPublisher(options);
    try {
      // As after every (re)connection: the exchanges are declared again, concurrently, on the one declaration channel.
      const [bad, ...others] = await Promise.all([
        publisher.deliver(event(), destination('bad', wrongType), message),
        ...good.map((exchange, n) => publisher.deliver(event(), destination(`good-${n}`, exchange), message)),
      ]);
      expect(bad!.succeeded).toBe(false);
      // Observed: every one fails with `exchange "rev-brokers-good-…" cannot be used as a durable topic exchange:
      // Channel ended, no reply will be forthcoming`.
      expect(others.map((result) => result.error)).toEqual(good.map(() => null));
    } finally {
      await publisher.close();
    }
  });

  it('a deleted exchange fails its own publishes with the broker’s reason, and not another destination’s', async () => {
    const [gone, kept] = [`rev-brokers-gone-${sfx}`, `rev-brokers-kept-${sfx}`];
    await rabbit.bindQueue(`${gone}-q`, gone, '#');
    await rabbit.bindQueue(`${kept}-q`, kept, '#');
    const publisher = new AmqpPublisher(options);
    try {
      // Declared and cached (twice: the connection's first 'connect' event clears the cache once).
      for (let i = 0; i < 2; i++) for (const exchange of [gone, kept]) expect((await publisher.deliver(event(), destination(exchange, exchange), message)).succeeded).toBe(true);
      const admin = await amqp.connect(AMQP_URL);
      await (await admin.createChannel()).deleteExchange(gone);
      await admin.close();

      const results = await Promise.all([
        ...[1, 2, 3].map(() => publisher.deliver(event(), destination('gone', gone), message)),
        ...[1, 2, 3].map(() => publisher.deliver(event(), destination('kept', kept), message)),
      ]);
      // Observed: { goneReasonGiven: [false, false, false] ("the RabbitMQ channel closed before the broker confirmed the
      // message (channel closed)": no 404), kept: ['network_error', 'network_error', 'network_error'] }.
      expect({
        goneReasonGiven: results.filter((r) => r.destination === 'gone').map((r) => /404|NOT_FOUND|no exchange/.test(r.error ?? '')),
        kept: results.filter((r) => r.destination === 'kept').map((r) => r.result),
      }).toEqual({ goneReasonGiven: [true, true, true], kept: ['success', 'success', 'success'] });
    } finally {
      await publisher.close();
    }
  });
});
