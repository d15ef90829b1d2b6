import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { AmqpPublisher } from '../../services/worker/delivery/amqp-publisher.js';
import type { Deliverer } from '../../services/worker/delivery/deliverer.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import { NatsPublisher } from '../../services/worker/delivery/nats-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { settlesWithoutIo } from '../support/settles-without-io.js';
import { waitFor } from '../support/wait-for.js';
import { AMQP_URL, JetStreamTap, NATS_URL, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// The broker deliverers on their own, against the machine's RabbitMQ and NATS, with a TCP proxy in front of each to
// cut the connection (a broker restart or a network failure, as the worker sees it) and restore it.

const sfx = uniqueSuffix();
const names = { exchange: `publishers-test-${sfx}`, queue: `publishers-all-${sfx}`, stream: `PUBLISHERS_TEST_${sfx}`, subjectPrefix: `publishers-test-${sfx}` };
const options = { defaultTimeoutMs: 3000, defaultMaxConcurrency: 16, logger: winston.createLogger({ silent: true }) };

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

const event = (eventType = 'thing.happened') => ({ id: randomUUID(), provider: 'testco', eventType });
const message = (text: string) => ({ body: Buffer.from(text), contentType: 'application/json' });
const viaPort = (url: string, port: number) => {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
};
const amqpDestination = (name: string, url: string, extra: Partial<Destination> = {}): Destination =>
  ({ name, type: 'amqp', url, exchange: names.exchange, routingKey: '{provider}.{eventType}', ...extra }) as Destination;
const natsDestination = (name: string, url: string, extra: Partial<Destination> = {}): Destination =>
  ({ name, type: 'nats', url, subject: `${names.subjectPrefix}.{provider}.{eventType}`, ...extra }) as Destination;

/** A port where nothing listens (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A server that accepts connections and never says a word: a broker that hangs. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function timed(run: () => Promise<DeliveryResult>): Promise<DeliveryResult & { tookMs: number }> {
  const started = Date.now();
  const result = await run();
  return { ...result, tookMs: Date.now() - started };
}

describe.each([
  ['RabbitMQ', AMQP_URL, amqpDestination, () => new AmqpPublisher(options) as Deliverer & { connectionCount: number }],
  ['NATS', NATS_URL, natsDestination, () => new NatsPublisher(options) as Deliverer & { connectionCount: number }],
] as const)('%s publisher', (broker, brokerUrl, destinationOn, create) => {
  it('while the broker is unreachable, an attempt fails naming the reason, and later ones fail at once', async () => {
    const publisher = create();
    const down = destinationOn('down', viaPort(brokerUrl, await closedPort()), { timeoutMs: 2000 });
    try {
      const first = await timed(() => publisher.deliver(event(), down, message('{}')));
      expect(first).toMatchObject({ destination: 'down', succeeded: false, result: 'network_error', statusCode: null });
      expect(first.error).toMatch(new RegExp(`^${broker} unreachable: .*(ECONNREFUSED|connection refused)`));
      // Not held until timeoutMs: the failed connection attempt ends the wait (held, it would be a 'timeout' naming no
      // reason). Later ones fail at once: before any I/O, not waiting for the next connection attempt. (Before: bounds
      // of 1.5 s and 200 ms, which a loaded machine can exceed.)
      const later = await settlesWithoutIo(publisher.deliver(event(), down, message('{}')));
      expect(later).toMatchObject({ settled: true, value: { succeeded: false, result: 'network_error' } });
    } finally {
      await publisher.close();
    }
  });

  it('an attempt against a broker that never answers ends after timeoutMs', async () => {
    const publisher = create();
    const silent = await silentServer();
    try {
      const result = await timed(() => publisher.deliver(event(), destinationOn('silent', viaPort(brokerUrl, silent.port), { timeoutMs: 500 }), message('{}')));
      expect(result).toMatchObject({ succeeded: false, result: 'timeout', error: `no connection to ${broker} within 500 ms` });
      // No earlier than timeoutMs; no upper bound (1.5 s before, which a loaded machine can exceed): the server never
      // answers, so only the attempt's own deadline ends it, as the error says.
      expect(result.tookMs).toBeGreaterThanOrEqual(480);
    } finally {
      await publisher.close();
      await silent.close();
    }
  });

  it('shares one connection per broker URL, and after the connection is cut re-establishes it: every confirmed message is stored, none twice', async () => {
    const target = new URL(brokerUrl);
    const proxy = new TcpProxy(target.hostname, Number(target.port));
    const port = await proxy.start();
    const publisher = create();
    const url = viaPort(brokerUrl, port);
    const [a, b] = [destinationOn('a', url), destinationOn('b', url)];
    const sent: { id: string; result: DeliveryResult }[] = [];
    const send = async (destination: Destination) => {
      const e = event();
      const result = await publisher.deliver(e, destination, message(JSON.stringify({ n: sent.length })));
      sent.push({ id: e.id, result });
      return result;
    };
    try {
      // Concurrent deliveries to two destinations on one broker: one connection.
      const before = await Promise.all(Array.from({ length: 20 }, (_, n) => send(n % 2 ? a : b)));
      expect(before.every((result) => result.succeeded)).toBe(true);
      expect(publisher.connectionCount).toBe(1);

      // Deliveries in flight when the connection is cut end (success or failure), none hangs.
      const inFlight = Array.from({ length: 20 }, (_, n) => send(n % 2 ? a : b));
      await proxy.stop();
      const cut = await Promise.all(inFlight);
      expect(cut).toHaveLength(20);
      // At once: before any I/O (a bound of 500 ms before, which a loaded machine can exceed).
      const whileDown = await settlesWithoutIo(send(a));
      expect(whileDown).toMatchObject({ settled: true, value: { succeeded: false, result: 'network_error' } });

      await proxy.restart();
      await waitFor(`${broker} to be reachable again`, async () => (await send(b)).succeeded, { timeoutMs: 15_000, intervalMs: 100 });
      const after = await Promise.all(Array.from({ length: 10 }, (_, n) => send(n % 2 ? a : b)));
      expect(after.every((result) => result.succeeded)).toBe(true);
      expect(publisher.connectionCount).toBe(1);

      // The broker's books: each confirmed message is there exactly once (a failed one may or may not be: its retry
      // would carry the same id).
      const confirmed = sent.filter((s) => s.result.succeeded).map((s) => s.id);
      const stored = new Map<string, number>();
      if (broker === 'RabbitMQ') {
        for (const m of await rabbit.messages(names.queue)) stored.set(String(m.properties.messageId), (stored.get(String(m.properties.messageId)) ?? 0) + 1);
      } else {
        for (const m of await jetstream.messages(names.stream)) stored.set(m.header.get('webhook-id'), (stored.get(m.header.get('webhook-id')) ?? 0) + 1);
      }
      for (const id of confirmed) expect([id, stored.get(id)]).toEqual([id, 1]);
      expect(confirmed.length).toBeGreaterThanOrEqual(31);
    } finally {
      await publisher.close();
      await proxy.stop();
    }
  });

  it('a confirmed publish leaves nothing behind on the long-lived connection (no memory kept per event)', async () => {
    // Each publish waited for its connection, declaration and channel by racing them against the connection's
    // "down" and "blocked" signals, which stay pending for as long as the connection stays up: every race left its
    // promises and closures on those signals until the next outage, about 1.2 KB per RabbitMQ publish and 0.4 KB per
    // NATS one, i.e. memory growing with every event delivered (~440 MB an hour at 100 events/s to one AMQP
    // destination). Measured garbage collected, over enough publishes that a leak stands out of the noise.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const heapUsed = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const publisher = create();
    const destination = destinationOn('kept', brokerUrl);
    const deliverMany = async (count: number) => {
      const lanes = Array.from({ length: 8 }, async (_, lane) => {
        for (let n = lane; n < count; n += 8) expect(await publisher.deliver(event(), destination, message(`{"n":${n}}`))).toMatchObject({ succeeded: true });
      });
      await Promise.all(lanes);
    };
    try {
      // The connection, channel, declaration and the destination's slots made, and the code compiled: a shorter
      // warm-up left ~150 bytes per publish of one-off growth in the figure.
      await deliverMany(1000);
      const before = heapUsed();
      const PUBLISHES = 4000;
      await deliverMany(PUBLISHES);
      // Without the leak 15-45 bytes (noise); with it 1,070-1,170 (RabbitMQ) and 335-360 (NATS).
      const bytesKeptPerPublish = (heapUsed() - before) / PUBLISHES;
      expect(bytesKeptPerPublish).toBeLessThan(100);
    } finally {
      await publisher.close();
    }
    // 5,000 confirmed publishes: 6 s here alone, 40 s seen on a loaded machine.
  }, 180_000);
});

describe('JetStream deduplication', () => {
  it('two destinations whose subjects one stream captures each store the event; a re-send to either stores nothing new', async () => {
    // "To send two shapes to one place, declare two destinations": one event, one stream, two messages. A
    // Nats-Msg-Id of the event id alone made JetStream take the second for a duplicate (acked, so counted a success).
    const publisher = new NatsPublisher(options);
    const [first, second] = [natsDestination('shape-a', NATS_URL), natsDestination('shape-b', NATS_URL)];
    const e = event('two.shapes');
    try {
      const results = [await publisher.deliver(e, first, message('{"shape":"a"}')), await publisher.deliver(e, second, message('{"shape":"b"}'))];
      expect(results.map((result) => result.succeeded)).toEqual([true, true]);
      const stored = await jetstream.messagesFor(names.stream, e.id);
      expect(stored.map((m) => [Buffer.from(m.data).toString(), m.header.get('webhook-id'), m.header.get('Nats-Msg-Id')])).toEqual([
        ['{"shape":"a"}', e.id, `${e.id}:shape-a`],
        ['{"shape":"b"}', e.id, `${e.id}:shape-b`],
      ]);

      // A retry of either delivery within its round (after a lost ack) is still a duplicate: acked, nothing stored.
      const again = [await publisher.deliver(e, second, message('{"shape":"b","copy":1}')), await publisher.deliver(e, first, message('{"shape":"a","copy":1}'))];
      expect(again.map((result) => result.succeeded)).toEqual([true, true]);
      expect(await jetstream.messagesFor(names.stream, e.id)).toHaveLength(2);
    } finally {
      await publisher.close();
    }
  });

  it("a replay round's delivery is stored again under its own id; its retries within the round store nothing new", async () => {
    const publisher = new NatsPublisher(options);
    const destination = natsDestination('rounds', NATS_URL);
    const e = event('replay.rounds');
    try {
      const results = [];
      for (const [replays, copy] of [[0, 0], [1, 1], [1, 2], [2, 3]] as const) {
        results.push(await publisher.deliver({ ...e, replays }, destination, message(`{"copy":${copy}}`)));
      }
      expect(results.map((result) => result.succeeded)).toEqual([true, true, true, true]);
      const stored = await jetstream.messagesFor(names.stream, e.id);
      expect(stored.map((m) => [Buffer.from(m.data).toString(), m.header.get('Nats-Msg-Id')])).toEqual([
        ['{"copy":0}', `${e.id}:rounds`],
        ['{"copy":1}', `${e.id}:rounds:1`],
        ['{"copy":3}', `${e.id}:rounds:2`],
      ]);
    } finally {
      await publisher.close();
    }
  });

  it('a re-send with the same event id within the duplicate window stores nothing new and is a success, logged as such', async () => {
    const logged: { message: string; messageId?: string; sequence?: number }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const logger = winston.createLogger({ level: 'info', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
    const publisher = new NatsPublisher({ ...options, logger });
    const destination = natsDestination('dedup', NATS_URL);
    const e = event('dedup.check');
    try {
      const results = [];
      for (let n = 0; n < 3; n++) results.push(await publisher.deliver(e, destination, message(`{"copy":${n}}`)));
      expect(results.map((result) => result.succeeded)).toEqual([true, true, true]);
      const stored = await jetstream.messagesFor(names.stream, e.id);
      expect(stored).toHaveLength(1);
      expect(Buffer.from(stored[0]!.data).toString()).toBe('{"copy":0}');
      // Success, as the stream has it; said so, as the attempt row cannot tell it from a first publish.
      const duplicates = logged.filter((line) => line.message.startsWith('JetStream already held this delivery'));
      expect(duplicates.map((line) => [line.messageId, line.sequence])).toEqual([
        [`${e.id}:dedup`, stored[0]!.seq],
        [`${e.id}:dedup`, stored[0]!.seq],
      ]);
    } finally {
      await publisher.close();
    }
  });
});
