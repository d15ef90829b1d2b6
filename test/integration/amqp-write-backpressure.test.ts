import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { AmqpPublisher } from '../../services/worker/delivery/amqp-publisher.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';
import { AMQP_URL, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// When the connection to RabbitMQ stops taking bytes (a broker that stopped reading, a congested network), amqplib's
// channel.publish() returns false: its write buffer is full. That return was ignored, so every attempt went on
// writing its message into the buffer and timed out, and once the connection moved again every one of those messages
// was delivered, each a copy of an attempt that had failed. Now a message is written only while the buffer takes it:
// a publish waits for the buffer to drain within its attempt's deadline, and fails at it with nothing sent.
// A proxy between the publisher and this machine's RabbitMQ stops reading to make the buffers fill.

const sfx = uniqueSuffix();
const exchange = `amqp-backpressure-${sfx}`;
const queue = `${exchange}-q`;
const TIMEOUT_MS = 1500;
const PUBLISHES = 2500;

let rabbit: RabbitTap;
let proxy: TcpProxy;
let destination: Destination;

beforeAll(async () => {
  rabbit = await RabbitTap.open();
  await rabbit.bindQueue(queue, exchange, '#');
  const target = new URL(AMQP_URL);
  proxy = new TcpProxy(target.hostname, Number(target.port || 5672));
  const port = await proxy.start();
  const viaProxy = new URL(AMQP_URL);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(port);
  destination = { name: 'bus', type: 'amqp', url: viaProxy.toString(), exchange, routingKey: '{provider}.{eventType}', timeoutMs: TIMEOUT_MS } as Destination;
});

afterAll(async () => {
  await proxy?.stop();
  await rabbit?.close();
});

describe('AMQP: a connection that does not take what is written', () => {
  it('messages beyond a full write buffer are not written: their attempts fail at the deadline saying so, and never reach the queue', async () => {
    const publisher = new AmqpPublisher({ defaultTimeoutMs: TIMEOUT_MS, defaultMaxConcurrency: PUBLISHES, logger: winston.createLogger({ silent: true }) });
    const body = { body: Buffer.alloc(16 * 1024, 97), contentType: 'application/json' };
    try {
      expect((await publisher.deliver({ id: randomUUID(), provider: 'testco', eventType: 'first' }, destination, body)).succeeded).toBe(true);
      proxy.hold();
      const ids = Array.from({ length: PUBLISHES }, () => randomUUID());
      const results: DeliveryResult[] = await Promise.all(ids.map((id) => publisher.deliver({ id, provider: 'testco', eventType: 'held' }, destination, body)));
      proxy.release();

      const notSent = ids.filter((_, n) => results[n]!.error?.startsWith('not sent: the connection to RabbitMQ is not taking the messages already written'));
      const written = ids.filter((id) => !notSent.includes(id));
      // Kernel and client buffers took some (they time out waiting for a confirm: at least once); the rest waited.
      expect({ notSentSome: notSent.length > 0, writtenSome: written.length > 0, allFailed: results.every((r) => !r.succeeded) }).toEqual({
        notSentSome: true,
        writtenSome: true,
        allFailed: true,
      });
      // Once the connection moves again, what was written arrives; nothing of the publishes that waited does.
      await waitFor('the written messages in the queue', async () => (await rabbit.messages(queue)).length >= written.length + 1, { timeoutMs: 20_000, intervalMs: 200 });
      // Anything else would have come with them (one connection, one channel: in order); a moment more for stragglers.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const arrivedIds = new Set((await rabbit.messages(queue)).map((m) => String(m.properties.messageId)));
      expect(notSent.filter((id) => arrivedIds.has(id))).toEqual([]);
      expect(written.filter((id) => !arrivedIds.has(id))).toEqual([]);
    } finally {
      proxy.release();
      await publisher.close();
    }
  }, 60_000);
});
