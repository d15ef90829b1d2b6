import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { AmqpPublisher } from '../../services/worker/delivery/amqp-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { RabbitTap, uniqueSuffix } from './support/broker-taps.js';
import { RabbitMqNode, skipOrFailWithoutRabbitmqNode } from './support/rabbitmq-node.js';

// A production RabbitMQ user for a publisher is commonly given write permission only (configure ""): the exchange
// and its bindings are the operator's (CONTRACT: "exchange: webhooks  # a durable topic exchange"; README: declared
// so when missing). The publisher declares the exchange (exchange.declare, not passive) before its first publish,
// which RabbitMQ checks against the configure permission even when the exchange exists with exactly those settings:
// refused (403 ACCESS_REFUSED), so a user that may publish to the existing exchange never publishes anything, every
// event is dead-lettered. A passive check first (declare only when it is missing) needs no configure permission.
// Runs on a RabbitMQ node of the test's own (a user is created there, not on the machine's broker).

const sfx = uniqueSuffix();
const exchange = `publish-only-${sfx}`;
const queue = `publish-only-q-${sfx}`;

describe('AMQP with a user that may publish but not configure', () => {
  if (skipOrFailWithoutRabbitmqNode('own-node test')) return;

  let node: RabbitMqNode;
  let rabbit: RabbitTap;
  let url: string;

  beforeAll(async () => {
    node = await RabbitMqNode.start();
    rabbit = await RabbitTap.open(node.url);
    // The operator's exchange and queue, as the service wants them (durable topic).
    await rabbit.bindQueue(queue, exchange, '#');
    await node.rabbitmqctl('add_user', 'publisher', 'publisher-pass');
    await node.rabbitmqctl('set_permissions', '-p', '/', 'publisher', '', '.*', '.*');
    const parsed = new URL(node.url);
    parsed.username = 'publisher';
    parsed.password = 'publisher-pass';
    url = parsed.toString();
  }, 120_000);

  afterAll(async () => {
    await rabbit?.close();
    await node?.stop();
  }, 60_000);

  it('publishes to the existing durable topic exchange', async () => {
    const publisher = new AmqpPublisher({ defaultTimeoutMs: 5000, defaultMaxConcurrency: 4, logger: winston.createLogger({ silent: true }) });
    const event = { id: randomUUID(), provider: 'testco', eventType: 'thing.happened' };
    try {
      const destination = { name: 'bus', type: 'amqp', url, exchange, routingKey: '{provider}.{eventType}' } as Destination;
      const result = await publisher.deliver(event, destination, { body: Buffer.from('{}'), contentType: 'application/json' });
      // What happens: network_error, `exchange "…" cannot be used as a durable topic exchange: Operation failed:
      // ExchangeDeclare; 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - access to exchange '…' in vhost '/' refused
      // for user 'publisher'"`, on every attempt (the refusal is held 30 s, then declared again and refused again).
      expect({ result: result.result, error: result.error }).toEqual({ result: 'success', error: null });
      expect((await rabbit.messagesFor(queue, event.id)).length).toBe(1);
    } finally {
      await publisher.close();
    }
  });

  it('fails, naming the refusal, to publish to an exchange that does not exist (it may not declare it)', async () => {
    const publisher = new AmqpPublisher({ defaultTimeoutMs: 5000, defaultMaxConcurrency: 4, logger: winston.createLogger({ silent: true }) });
    const missing = `publish-only-missing-${sfx}`;
    try {
      const destination = { name: 'bus', type: 'amqp', url, exchange: missing, routingKey: '{provider}.{eventType}' } as Destination;
      const result = await publisher.deliver({ id: randomUUID(), provider: 'testco', eventType: 'thing.happened' }, destination, { body: Buffer.from('{}'), contentType: 'application/json' });
      expect(result).toMatchObject({ succeeded: false, result: 'network_error' });
      expect(result.error).toMatch(new RegExp(`^exchange "${missing}" cannot be used as a durable topic exchange: it does not exist, and declaring it was refused: .*403 \\(ACCESS-REFUSED\\)`));
    } finally {
      await publisher.close();
    }
  });
});
