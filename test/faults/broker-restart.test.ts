import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import { AMQP_URL, JetStreamTap, RabbitTap, uniqueSuffix } from '../integration/support/broker-taps.js';
import { makeEvents } from '../support/provider-simulator.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import type { ServiceProcess } from '../support/service-process.js';
import { FaultStack, reportFigures, type Figures } from './support/fault-stack.js';
import { NatsServerProcess } from './support/nats-server-process.js';
import { RabbitRestart } from './support/rabbitmq-restart.js';

// Both brokers restart under load: RabbitMQ (the machine's; `rabbitmqctl stop_app` / `start_app`, or a TCP proxy cut
// where rabbitmqctl cannot drive it) and a nats-server of the scenario's own (SIGTERM, then the same port and store).
// Every accepted event must end COMPLETED with its message in the RabbitMQ queue and in the JetStream stream: nothing
// lost. JetStream holds each event exactly once (Nats-Msg-Id, the event id and destination, within the duplicate window); RabbitMQ holds a second
// copy only of a message whose confirm the restart cut off (its retry carries the same messageId), and no confirmed
// message is ever published again.

const sfx = uniqueSuffix();
const names = { exchange: `faults-brokers-${sfx}`, queue: `faults-brokers-${sfx}`, stream: `FAULTS_BROKERS_${sfx}`, subjectPrefix: `faults-brokers-${sfx}` };
const EVENTS = 240;

let stack: FaultStack;
let ingress: ServiceProcess;
let worker: ServiceProcess;
let nats: NatsServerProcess;
let rabbitRestart: RabbitRestart;
let rabbit: RabbitTap;
let jetstream: JetStreamTap;
let routesFile: TempRoutesFile;
let rabbitStopped = false;

beforeAll(async () => {
  nats = await NatsServerProcess.create();
  await nats.start();
  rabbitRestart = await RabbitRestart.choose(AMQP_URL);
  [rabbit, jetstream] = await Promise.all([RabbitTap.open(), JetStreamTap.open(nats.url)]);
  await rabbit.bindQueue(names.queue, names.exchange, '#');
  await jetstream.createStream(names.stream, [`${names.subjectPrefix}.>`]);
  routesFile = writeRoutesFile({
    destinations: {
      bus: { type: 'amqp', url: rabbitRestart.url, exchange: names.exchange, routingKey: '{provider}.{eventType}', timeoutMs: 3000 },
      stream: { type: 'nats', url: nats.url, subject: `${names.subjectPrefix}.{provider}.{eventType}`, timeoutMs: 3000 },
    },
    routes: [{ provider: 'stripe', to: ['bus', 'stream'] }],
  });
  stack = await FaultStack.create({ destinations: {}, routes: [], env: { ROUTES_FILE: routesFile.path, JOB_ATTEMPTS: '10' } });
  [ingress, worker] = await Promise.all([stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  // Never leave the machine's RabbitMQ stopped, whatever happened.
  if (rabbitStopped) await rabbitRestart.start().catch(() => undefined);
  await stack?.teardown();
  await jetstream?.close();
  // The tap's connection did not survive the restart: a fresh one cleans up.
  const cleaner = await RabbitTap.open().catch(() => undefined);
  if (cleaner) {
    await cleaner.bindQueue(names.queue, names.exchange, '#').catch(() => undefined);
    await cleaner.close();
  }
  await rabbit?.close().catch(() => undefined);
  await rabbitRestart?.close();
  await nats?.destroy();
  routesFile?.remove();
});

describe('RabbitMQ and NATS restarted under load', () => {
  it('loses no event: every one COMPLETED, in the queue and in the stream; JetStream stores each once; no confirmed message is published twice', async () => {
    const startedAt = Date.now();
    const events = makeEvents(`brokers_${sfx}`, EVENTS);
    const provider = stack.provider(() => [ingress.baseUrl]);
    const outage = { rabbitDownMs: 0, natsDownMs: 0 };
    const [outcomes] = await Promise.all([
      provider.run(events, { ratePerSecond: 40, concurrency: 16 }),
      (async () => {
        await delay(1500);
        const natsStopped = Date.now();
        await nats.stop();
        await delay(1500);
        await nats.start();
        outage.natsDownMs = Date.now() - natsStopped;
      })(),
      (async () => {
        await delay(2000);
        const stoppedAt = Date.now();
        rabbitStopped = true;
        await rabbitRestart.stop();
        await delay(1000);
        await rabbitRestart.start();
        rabbitStopped = false;
        outage.rabbitDownMs = Date.now() - stoppedAt;
      })(),
    ]);
    await provider.close();

    // Settle: every accepted event finished (with a deadline), then a moment for late duplicates to show.
    const accepted = outcomes.filter((outcome) => outcome.eventId).map((outcome) => outcome.eventId!);
    const deadline = Date.now() + 60_000;
    const unfinished = async () =>
      (await stack.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_events WHERE status NOT IN ('COMPLETED', 'DEAD_LETTER')`)).rows[0]!.n;
    while ((await unfinished()) > 0 && Date.now() < deadline) await delay(250);
    await delay(500);

    const statuses = await stack.db.pool.query<{ id: string; status: string }>('SELECT id, status FROM webhook_events WHERE id = ANY($1::uuid[])', [accepted]);
    const statusOf = new Map(statuses.rows.map((row) => [row.id, row.status]));
    const attempts = await stack.db.pool.query<{ event_id: string; destination: string; succeeded: boolean; n: number }>(
      `SELECT event_id, destination, succeeded, count(*)::int AS n FROM delivery_attempts WHERE event_id = ANY($1::uuid[]) GROUP BY 1, 2, 3`,
      [accepted],
    );
    const attemptsOf = (id: string, destination: string, succeeded: boolean) =>
      attempts.rows.find((row) => row.event_id === id && row.destination === destination && row.succeeded === succeeded)?.n ?? 0;

    const inQueue = new Map<string, number>();
    const counter = await RabbitTap.open();
    try {
      for (const message of await counter.messages(names.queue)) {
        const id = String(message.properties.messageId);
        inQueue.set(id, (inQueue.get(id) ?? 0) + 1);
      }
    } finally {
      await counter.close();
    }
    const inStream = new Map<string, number>();
    for (const message of await jetstream.messages(names.stream)) {
      const id = message.header.get('webhook-id');
      inStream.set(id, (inStream.get(id) ?? 0) + 1);
    }

    const lost = accepted.filter((id) => statusOf.get(id) !== 'COMPLETED' || !inQueue.has(id) || !inStream.has(id));
    const amqpTwice = accepted.filter((id) => (inQueue.get(id) ?? 0) > 1);
    const natsTwice = accepted.filter((id) => (inStream.get(id) ?? 0) > 1);
    const summary = provider.summary();
    const figures: Figures = {
      scenario: `RabbitMQ (${rabbitRestart.how}) and NATS restarted`,
      sent: events.length,
      accepted: accepted.length,
      stored: statuses.rows.length,
      delivered: accepted.filter((id) => inQueue.has(id) && inStream.has(id)).length,
      deliveredTwice: new Set([...amqpTwice, ...natsTwice]).size,
      deadLettered: statuses.rows.filter((row) => row.status === 'DEAD_LETTER').length,
      lost: lost.length,
      answered503: summary.byStatus['503'] ?? 0,
      answered5xxOther: 0,
      connectionErrors: Object.values(summary.connectionErrors).reduce((sum, count) => sum + count, 0),
      hangs: summary.hangs,
      unfinished: statuses.rows.filter((row) => !['COMPLETED', 'DEAD_LETTER'].includes(row.status)).length,
      acceptedWithoutRow: accepted.length - statuses.rows.length,
      seconds: Math.round((Date.now() - startedAt) / 100) / 10,
    };
    reportFigures(figures);
    const failedAttempts = (destination: string) => attempts.rows.filter((row) => row.destination === destination && !row.succeeded).reduce((sum, row) => sum + row.n, 0);
    console.log(
      `broker restart: ${JSON.stringify({ ...outage, failedBusAttempts: failedAttempts('bus'), failedStreamAttempts: failedAttempts('stream'), amqpCopiesTwice: amqpTwice.length, jetstreamTwice: natsTwice.length })}`,
    );
    if (figures.lost > 0 || figures.unfinished > 0) console.log(await stack.diagnose());

    expect(figures).toMatchObject({ sent: EVENTS, accepted: EVENTS, stored: EVENTS, delivered: EVENTS, lost: 0, unfinished: 0, deadLettered: 0 });
    const messages = worker.jsonLogs().map((line) => line.message);
    // The worker holds one connection to RabbitMQ again (re-established, not leaked), where the broker can be asked.
    const connections = await rabbitRestart.connectionsNamed(` pid ${worker.pid}`);
    // Every check at once, so a failure shows them all.
    expect({
      unhandled: stack.unhandled(),
      // The outages were real: deliveries to each broker failed meanwhile, and the worker saw both connections come back.
      busAttemptsFailed: failedAttempts('bus') > 0,
      streamAttemptsFailed: failedAttempts('stream') > 0,
      rabbitReestablished: messages.includes('RabbitMQ connection re-established'),
      natsReestablished: messages.includes('NATS connection re-established'),
      // JetStream: each event stored once, however often it was sent.
      storedTwiceInStream: natsTwice,
      eventsInStream: inStream.size,
      // One success per destination: a confirmed (acked) message is never published again.
      notConfirmedOnce: accepted
        .filter((id) => attemptsOf(id, 'bus', true) !== 1 || attemptsOf(id, 'stream', true) !== 1)
        .map((id) => ({ id, bus: attemptsOf(id, 'bus', true), stream: attemptsOf(id, 'stream', true) })),
      // A second RabbitMQ copy only where an attempt failed after publishing (its confirm cut off by the restart).
      unexplainedCopies: accepted
        .filter((id) => (inQueue.get(id) ?? 0) - 1 > attemptsOf(id, 'bus', false))
        .map((id) => ({ id, copies: inQueue.get(id), failedAttempts: attemptsOf(id, 'bus', false) })),
      workerConnectionsToRabbitMQ: connections ?? 'not asked (no rabbitmqctl)',
    }).toEqual({
      unhandled: [],
      busAttemptsFailed: true,
      streamAttemptsFailed: true,
      rabbitReestablished: true,
      natsReestablished: true,
      storedTwiceInStream: [],
      eventsInStream: EVENTS,
      notConfirmedOnce: [],
      unexplainedCopies: [],
      workerConnectionsToRabbitMQ: connections === undefined ? 'not asked (no rabbitmqctl)' : 1,
    });
  });
});
