import { setTimeout as delay } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { AmqpPublisher } from '../../services/worker/delivery/amqp-publisher.js';
import type { Deliverer } from '../../services/worker/delivery/deliverer.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import { NatsPublisher } from '../../services/worker/delivery/nats-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { BrokerProxy } from '../support/broker-proxy.js';
import { waitFor } from '../support/wait-for.js';
import { AMQP_URL, JetStreamTap, NATS_URL, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// The edges of a publish when the connection fails: the broker took the message but its confirm / ack never came
// back (the connection died on the way back), and a connection cut again and again under load. The broker deliverers
// on their own, behind a proxy (test/support/broker-proxy, passing bytes as they come for both brokers) that can drop
// what the broker sends and cut every connection.

const sfx = uniqueSuffix();
const names = { exchange: `answer-lost-${sfx}`, queue: `answer-lost-all-${sfx}`, stream: `ANSWER_LOST_${sfx}`, subjectPrefix: `answer-lost-${sfx}` };
const options = { defaultTimeoutMs: 1500, defaultMaxConcurrency: 16, logger: winston.createLogger({ silent: true }) };

let rabbit: RabbitTap;
let jetstream: JetStreamTap;

beforeAll(async () => {
  [rabbit, jetstream] = await Promise.all([RabbitTap.open(), JetStreamTap.open()]);
  await rabbit.bindQueue(names.queue, names.exchange, '#');
  await jetstream.createStream(names.stream, [`${names.subjectPrefix}.>`]);
});

afterAll(async () => {
  await rabbit?.close();
  await jetstream?.close();
});

const event = () => ({ id: randomUUID(), provider: 'testco', eventType: 'thing.happened' });
const message = (text: string) => ({ body: Buffer.from(text), contentType: 'application/json' });
const viaPort = (url: string, port: number) => {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
};
const amqpDestination = (name: string, url: string): Destination =>
  ({ name, type: 'amqp', url, exchange: names.exchange, routingKey: '{provider}.{eventType}' }) as Destination;
const natsDestination = (name: string, url: string): Destination =>
  ({ name, type: 'nats', url, subject: `${names.subjectPrefix}.{provider}.{eventType}` }) as Destination;

type Publisher = Deliverer & { connectionCount: number; close(): Promise<void> };

/** Event id → how many messages of it the broker holds (the queue's messageId, the stream's webhook-id). */
async function storedCounts(broker: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const ids =
    broker === 'RabbitMQ'
      ? (await rabbit.messages(names.queue)).map((m) => String(m.properties.messageId))
      : (await jetstream.messages(names.stream)).map((m) => m.header.get('webhook-id'));
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

describe.each([
  ['RabbitMQ', AMQP_URL, amqpDestination, (): Publisher => new AmqpPublisher(options)],
  ['NATS', NATS_URL, natsDestination, (): Publisher => new NatsPublisher(options)],
] as const)('%s publisher', (broker, brokerUrl, destinationOn, create) => {
  it('a message the broker took whose confirm / ack was lost is a failed attempt; its retry after the connection is re-made succeeds under the same id', async () => {
    const target = new URL(brokerUrl);
    const proxy = new BrokerProxy(target.hostname, Number(target.port), { framing: 'bytes' });
    const publisher = create();
    const destination = destinationOn('answer-lost', viaPort(brokerUrl, await proxy.start()));
    try {
      // Connection, channel and declaration made.
      expect(await publisher.deliver(event(), destination, message('{}'))).toMatchObject({ succeeded: true });
      const e = event();
      proxy.dropAnswers();
      // The broker stores it; the answer never arrives: no receipt within timeoutMs, a failed attempt.
      expect(await publisher.deliver(e, destination, message('{"n":1}'))).toMatchObject({ succeeded: false, result: 'timeout' });
      await waitFor('the message to reach the broker', async () => (await storedCounts(broker)).get(e.id) === 1);
      proxy.cut();
      // Retries, as the queue would make them, until the connection is back (one made at the cut may fail too).
      await waitFor(`${broker} to take the retry`, async () => (await publisher.deliver(e, destination, message('{"n":1}'))).succeeded, { timeoutMs: 30_000, intervalMs: 200 });
      const stored = (await storedCounts(broker)).get(e.id);
      // JetStream deduplicates the retry on its Nats-Msg-Id (acked `duplicate`): stored once. RabbitMQ cannot: the
      // queue holds it twice, both with the event id as messageId, for consumers to deduplicate (at least once).
      expect(stored).toBe(broker === 'NATS' ? 1 : 2);
      expect(publisher.connectionCount).toBe(1);
    } finally {
      await publisher.close();
      await proxy.close();
    }
  }, 90_000);

  it('a publish awaiting its confirm / ack when the connection drops ends then, not at its timeout, and its retry is stored once', async () => {
    const target = new URL(brokerUrl);
    const proxy = new BrokerProxy(target.hostname, Number(target.port), { framing: 'bytes' });
    const publisher = create();
    // A timeout far beyond the test's wait: the publish must end because the connection dropped, not because its time ran out.
    const destination = { ...destinationOn('answer-lost-drop', viaPort(brokerUrl, await proxy.start())), timeoutMs: 120_000 } as Destination;
    try {
      expect(await publisher.deliver(event(), destination, message('{}'))).toMatchObject({ succeeded: true });
      const e = event();
      proxy.dropAnswers();
      let ended: DeliveryResult | undefined;
      const publishing = publisher.deliver(e, destination, message('{"n":2}')).then((result) => (ended = result));
      await waitFor('the message to reach the broker', async () => (await storedCounts(broker)).get(e.id) === 1);
      proxy.cut();
      // Before: NATS's publish waited out its 120 s for an ack that went with the old connection.
      await waitFor('the publish to end once its connection dropped', () => ended !== undefined, { timeoutMs: 30_000, intervalMs: 50 });
      await publishing;
      expect(ended).toMatchObject({ succeeded: false, result: 'network_error' });
      expect(ended!.error).toMatch(/lost|closed/i);
      // The reason names the connection's end, not amqplib's bare "Unexpected close" (a socket ended without an
      // AMQP connection.close) behind "the RabbitMQ channel closed", which read as if the channel alone had failed.
      expect(ended!.error).toMatch(broker === 'NATS' ? /disconnected from/ : /connection to RabbitMQ was lost .*closed the TCP connection without an AMQP close/);
      expect(ended!.error).not.toMatch(/Unexpected close/);
      await waitFor(`${broker} to take the retry`, async () => (await publisher.deliver(e, destination, message('{"n":2}'))).succeeded, { timeoutMs: 30_000, intervalMs: 200 });
      expect((await storedCounts(broker)).get(e.id)).toBe(broker === 'NATS' ? 1 : 2);
    } finally {
      await publisher.close();
      await proxy.close();
    }
  }, 120_000);

  it('connections cut again and again under load: every publish ends, every confirmed message is stored once, and deliveries go on', async () => {
    const target = new URL(brokerUrl);
    const proxy = new BrokerProxy(target.hostname, Number(target.port), { framing: 'bytes' });
    const publisher = create();
    const url = viaPort(brokerUrl, await proxy.start());
    const [a, b] = [destinationOn('storm-a', url), destinationOn('storm-b', url)];
    const sent: { id: string; result: DeliveryResult }[] = [];
    let stop = false;
    const lane = async (destination: Destination) => {
      while (!stop) {
        const e = event();
        const result = await publisher.deliver(e, destination, message('{}'));
        sent.push({ id: e.id, result });
        // While the connection is down a publish fails at once, with no I/O: paced, as the queue's backoff paces
        // retries (a loop of them would never let the reconnection run).
        if (!result.succeeded) await delay(10);
      }
    };
    const confirmed = () => sent.filter((s) => s.result.succeeded);
    try {
      const lanes = Array.from({ length: 8 }, (_, n) => lane(n % 2 ? a : b));
      // Each cut once some more messages were confirmed since the last: the connection is re-made between cuts.
      for (let cuts = 0; cuts < 12; cuts++) {
        const before = confirmed().length;
        await waitFor('more confirmed publishes', () => confirmed().length >= before + 4, { timeoutMs: 30_000, intervalMs: 10 });
        proxy.cut();
      }
      stop = true;
      await Promise.all(lanes);
      await waitFor(`${broker} to take deliveries again`, async () => (await publisher.deliver(event(), a, message('{}'))).succeeded, { timeoutMs: 30_000, intervalMs: 100 });
      const stored = await storedCounts(broker);
      const notOnce = confirmed().filter((s) => stored.get(s.id) !== 1).map((s) => [s.id, stored.get(s.id)]);
      expect(notOnce).toEqual([]);
      expect(sent.some((s) => !s.result.succeeded)).toBe(true);
      expect(publisher.connectionCount).toBe(1);
    } finally {
      stop = true;
      await publisher.close();
      await proxy.close();
    }
  }, 180_000);
});
