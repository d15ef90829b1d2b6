import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import amqp from 'amqplib';
import winston from 'winston';
import { AmqpConnection } from '../../services/worker/delivery/amqp-connection.js';
import { AmqpPublisher } from '../../services/worker/delivery/amqp-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { waitFor } from '../support/wait-for.js';
import { AMQP_URL, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// A broker error that closes a channel is a channel-level error (406, 404). AmqpConnection shared one declaration
// channel and one confirm channel per broker URL, so one destination's problem failed every other destination's
// declaration or publish in flight on that channel, and the failures read "Channel ended" / "channel closed" without
// the broker's reason: failed attempts (counted against circuit breakers) of destinations configured correctly.
// Exchanges are now declared each on a channel of its own (a refusal remembered for a while), and a publish lost only
// because another one's error closed the shared channel is sent again, once, on a channel of its own.

const sfx = uniqueSuffix();
const logger = winston.createLogger({ silent: true });
const options = { defaultTimeoutMs: 3000, defaultMaxConcurrency: 16, logger };
const message = { body: Buffer.from('{}'), contentType: 'application/json' };
const event = () => ({ id: randomUUID(), provider: 'testco', eventType: 'thing.happened' });
const destination = (name: string, exchange: string): Destination =>
  ({ name, type: 'amqp', url: AMQP_URL, exchange, routingKey: '{provider}.{eventType}' }) as Destination;

let rabbit: RabbitTap;

/** Runs `work` with a channel on a connection of the test's own (as an operator would, outside the service). */
async function asOperator(work: (channel: amqp.Channel) => Promise<unknown>): Promise<void> {
  const admin = await amqp.connect(AMQP_URL);
  try {
    await work(await admin.createChannel());
  } finally {
    await admin.close();
  }
}

beforeAll(async () => {
  rabbit = await RabbitTap.open();
});

afterAll(async () => {
  await rabbit?.close();
});

describe('AMQP exchange declarations', () => {
  it('an exchange of another type fails only its own destination, with the broker’s reason, not the declarations of correct ones', async () => {
    const wrongType = `amqp-direct-${sfx}`;
    const good = [1, 2, 3].map((n) => `amqp-good-${n}-${sfx}`);
    // The misconfigured destination's exchange exists as a direct exchange.
    await asOperator((channel) => channel.assertExchange(wrongType, 'direct', { durable: true }));
    rabbit.forget(wrongType);
    for (const exchange of good) await rabbit.bindQueue(`${exchange}-q`, exchange, '#');

    const publisher = new AmqpPublisher(options);
    try {
      // As after every (re)connection: the exchanges are declared again, concurrently.
      const [bad, ...others] = await Promise.all([
        publisher.deliver(event(), destination('bad', wrongType), message),
        ...good.map((exchange, n) => publisher.deliver(event(), destination(`good-${n}`, exchange), message)),
      ]);
      expect(bad).toMatchObject({ succeeded: false, result: 'network_error' });
      expect(bad!.error).toMatch(/^exchange "amqp-direct-\w+" cannot be used as a durable topic exchange: .*406 \(PRECONDITION-FAILED\).*inequivalent arg 'type'/);
      // Before: every one failed with `… cannot be used as a durable topic exchange: Channel ended, no reply will be forthcoming`.
      expect(others.map((result) => result.error)).toEqual(good.map(() => null));
    } finally {
      await publisher.close();
    }
  });

  it('a refused declaration stands for a while (30 s; here 3 s): attempts meanwhile fail with it, without declaring again', async () => {
    const HOLD_MS = 3000;
    const exchange = `amqp-refused-${sfx}`;
    await asOperator((channel) => channel.assertExchange(exchange, 'fanout', { durable: true }));
    rabbit.forget(exchange);
    const connection = new AmqpConnection(AMQP_URL, logger, 'amqp-channel-errors-isolated test', HOLD_MS);
    const publish = () => connection.publish(exchange, 'testco.thing', Buffer.from('{}'), { messageId: randomUUID() });
    try {
      // The refusal is taken after this: its hold ends no sooner than HOLD_MS from here.
      const startedAt = Date.now();
      await expect(publish()).rejects.toThrow(/inequivalent arg 'type'/);
      // The operator fixes the exchange: a declaration now would succeed, so a publish failing with the refusal
      // declared nothing.
      await asOperator((channel) => channel.deleteExchange(exchange));
      await rabbit.bindQueue(`${exchange}-q`, exchange, '#');
      const heldOnAt = Date.now();
      const meanwhile = await publish().then(
        () => 'published',
        (error: Error) => error.message,
      );
      // Within the hold the refusal stands; a publish a loaded machine made only after the hold proves nothing here.
      if (heldOnAt - startedAt < HOLD_MS) expect(meanwhile).toMatch(/inequivalent arg 'type'.* \(refused \d+ s ago; declared again in [1-3] s\)$/);
      // Once the hold is over the next publish declares again, and succeeds; until then each fails with the refusal.
      const refusalsSeen: string[] = [];
      await waitFor('a publish once the hold is over', () =>
        publish().then(
          () => true,
          (error: Error) => void refusalsSeen.push(error.message),
        ),
      );
      const publishedAt = Date.now();
      expect(refusalsSeen.filter((reason) => !/inequivalent arg 'type'.* \(refused \d+ s ago; declared again in [1-3] s\)$/.test(reason))).toEqual([]);
      // Not before the hold is over (the refusal came after startedAt).
      expect(publishedAt - startedAt).toBeGreaterThanOrEqual(HOLD_MS);
      expect(await rabbit.messages(`${exchange}-q`)).toHaveLength(meanwhile === 'published' ? 2 : 1);
    } finally {
      await connection.close();
    }
  });
});

describe('AMQP channel errors on the shared confirm channel', () => {
  it('a deleted exchange fails its own publishes with the broker’s reason, and not another destination’s', async () => {
    const [gone, kept] = [`amqp-gone-${sfx}`, `amqp-kept-${sfx}`];
    await rabbit.bindQueue(`${gone}-q`, gone, '#');
    await rabbit.bindQueue(`${kept}-q`, kept, '#');
    const publisher = new AmqpPublisher(options);
    try {
      // Declared once, on the first publish of each (the connection's first 'connect' no longer forgets them).
      for (const exchange of [gone, kept]) expect((await publisher.deliver(event(), destination(exchange, exchange), message)).succeeded).toBe(true);
      await asOperator((channel) => channel.deleteExchange(gone));

      const keptEvents = [1, 2, 3].map(() => event());
      const results = await Promise.all([
        ...[1, 2, 3].map(() => publisher.deliver(event(), destination('gone', gone), message)),
        ...keptEvents.map((keptEvent) => publisher.deliver(keptEvent, destination('kept', kept), message)),
      ]);
      // Before: { goneReasonGiven: [false, false, false] ("the RabbitMQ channel closed before the broker confirmed the
      // message (channel closed)": no 404), kept: ['network_error', 'network_error', 'network_error'] }.
      expect({
        goneReasonGiven: results.filter((r) => r.destination === 'gone').map((r) => /404 \(NOT-FOUND\).*no exchange 'amqp-gone-/.test(r.error ?? '')),
        kept: results.filter((r) => r.destination === 'kept').map((r) => r.result),
      }).toEqual({ goneReasonGiven: [true, true, true], kept: ['success', 'success', 'success'] });
      // Each kept message reached its queue (a message sent again may be there twice, with one messageId, had it
      // been routed before the channel closed: at least once).
      const stored = new Set((await rabbit.messages(`${kept}-q`)).map((m) => m.properties.messageId));
      expect(keptEvents.filter((keptEvent) => !stored.has(keptEvent.id))).toEqual([]);
    } finally {
      await publisher.close();
    }
  });
});
