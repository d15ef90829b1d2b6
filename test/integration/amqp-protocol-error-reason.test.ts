import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { AmqpPublisher } from '../../services/worker/delivery/amqp-publisher.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { basicAckFrame, type AmqpFrameSeen } from '../support/amqp-frames.js';
import { BrokerProxy } from '../support/broker-proxy.js';
import { waitFor } from '../support/wait-for.js';
import { AMQP_URL, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// amqplib closes the connection itself over a protocol error it detects in what the broker sent (here a frame on a
// channel it never opened): it emits the error as the connection's 'error', sends connection.close, and ends the
// connection once the broker's close-ok comes, with no error of its own ("Connection closed"). The publishes lost
// with that connection, the one awaiting its confirm and one made while the close-ok was awaited ("Connection
// closing"), record the protocol error. A proxy of the test's writes the frame between two of the broker's.

const sfx = uniqueSuffix();
const names = { exchange: `protocol-error-${sfx}`, queue: `protocol-error-all-${sfx}` };
const options = { defaultTimeoutMs: 1500, defaultMaxConcurrency: 16, logger: winston.createLogger({ silent: true }) };

let rabbit: RabbitTap;

beforeAll(async () => {
  rabbit = await RabbitTap.open();
  await rabbit.bindQueue(names.queue, names.exchange, '#');
});

afterAll(async () => {
  await rabbit?.close();
});

const event = () => ({ id: randomUUID(), provider: 'testco', eventType: 'thing.happened' });
const message = (text: string) => ({ body: Buffer.from(text), contentType: 'application/json' });
const isBasicPublish = (frame: AmqpFrameSeen) => frame.type === 1 && frame.classId === 60 && frame.methodId === 40;
const isConnectionClose = (frame: AmqpFrameSeen) => frame.type === 1 && frame.channel === 0 && frame.classId === 10 && frame.methodId === 50;

describe('RabbitMQ publisher, connection closed by amqplib over a protocol error', () => {
  it('records the protocol error as the reason of the publishes lost with the connection, not "Connection closed" / "Connection closing"', async () => {
    const target = new URL(AMQP_URL);
    const proxy = new BrokerProxy(target.hostname, Number(target.port), { framing: 'amqp' });
    const url = new URL(AMQP_URL);
    url.hostname = '127.0.0.1';
    url.port = String(await proxy.start());
    const publisher = new AmqpPublisher(options);
    // A timeout far beyond the test's wait: the publish must end because its connection closed.
    const destination = { name: 'protocol-error', type: 'amqp', url: url.toString(), exchange: names.exchange, routingKey: '{provider}.{eventType}', timeoutMs: 120_000 } as Destination;
    try {
      // Connection, channel and declaration made.
      expect(await publisher.deliver(event(), destination, message('{}'))).toMatchObject({ succeeded: true });

      // A publish awaiting its confirm: the broker's answers are held back.
      proxy.hold();
      const published = proxy.nextClientFrame(isBasicPublish);
      let awaitingConfirm: DeliveryResult | undefined;
      const first = publisher.deliver(event(), destination, message('{"n":1}')).then((result) => (awaitingConfirm = result));
      await published;

      // A basic.ack on channel 999, which the client never opened: amqplib closes the connection over it and waits
      // for the broker's close-ok, held back for now.
      const closing = proxy.nextClientFrame(isConnectionClose);
      proxy.inject(basicAckFrame(999));
      await closing;
      const whileClosing = await publisher.deliver(event(), destination, message('{"n":2}'));

      proxy.release();
      await waitFor('the publish awaiting its confirm to end once its connection closed', () => awaitingConfirm !== undefined, { timeoutMs: 30_000, intervalMs: 50 });
      await first;

      for (const ended of [awaitingConfirm!, whileClosing]) {
        expect(ended).toMatchObject({ succeeded: false, result: 'network_error' });
        // amqplib's own words for the protocol error, with the channel it named.
        expect(ended.error).toMatch(/connection to RabbitMQ was lost .*protocol error.*Frame on unknown channel.*999/);
        expect(ended.error).not.toMatch(/\(Connection clos(ed|ing)\)/);
      }

      // Re-made: deliveries go on.
      await waitFor('RabbitMQ to take deliveries again', async () => (await publisher.deliver(event(), destination, message('{}'))).succeeded, { timeoutMs: 30_000, intervalMs: 200 });
    } finally {
      await publisher.close();
      await proxy.close();
    }
  }, 90_000);
});
