import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { readEventRow, waitForEventStatus } from '../support/event-status.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type RoutesDocument, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A destination's circuit lives in Redis, and outlived the breaker that kept it: turned off in ROUTES_FILE (or the
 * destination removed) and, a restart or more later, on again (or the destination back), the worker found the open
 * circuit, or the failures counted, of the old configuration, counted while nothing counted its successes since. A
 * healthy destination's events then waited out the old cooldown, and one failure could open a circuit at once. Now a
 * worker that starts without a breaker for a destination (off, or the destination gone) forgets its circuit: on
 * again, it starts closed with nothing counted. A breaker kept across the restart keeps its state.
 */

const STRIPE_SECRET = 'whsec_circuit_breaker_reconfigured';
// Open for 10 minutes once opened: an event waiting behind such a circuit would not go while the test looks.
const OPENING = { failureThreshold: 2, cooldownMs: 600_000 };
const COUNTING = { failureThreshold: 3, cooldownMs: 600_000 };
jest.setTimeout(120_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let redis: Redis;
let state: DestinationStateStore;
const files: TempRoutesFile[] = [];
let app: InProcessService | undefined;
// Paths whose destination is down (503, no Retry-After).
const down = new Set(['/toggled', '/readded', '/counted', '/kept', '/shortened']);
const sink = new HttpSink((request) => ({ status: down.has(request.path) ? 503 : 200 }));
let counter = 0;

async function start(destinations: RoutesDocument['destinations']): Promise<InProcessService> {
  const file = writeRoutesFile({
    destinations,
    routes: Object.keys(destinations).map((name) => ({ provider: 'stripe', events: [`${name}.*`], to: [name] })),
  });
  files.push(file);
  return startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ROUTES_FILE: file.path,
    POD_DELETION_COST_ENABLED: 'false',
    JOB_ATTEMPTS: '5',
    // A failed event is not retried while the test looks: only the events it sends reach the destinations.
    JOB_BACKOFF_MS: '600000',
  });
}

async function send(type: string): Promise<string> {
  const body = JSON.stringify({ id: `evt_circuit_reconfigured_${process.pid}_${counter++}`, object: 'event', type, data: { object: {} } });
  const response = await postWebhook(app!.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

async function circuitOf(name: string) {
  return (await state.read([name])).views[0]!.circuit!;
}

beforeAll(async () => {
  [db] = await Promise.all([createTestDatabase(), sink.start()]);
  ns = createQueueNamespace();
  redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  state = new DestinationStateStore(redis, `${ns.prefix}:webhook-events`);
});

afterAll(async () => {
  await app?.stop();
  redis?.disconnect();
  await sink.stop();
  for (const file of files) file.remove();
  await ns?.cleanup();
  await db?.drop();
});

describe('circuit state recorded under a breaker that was turned off since', () => {
  it('is forgotten: turned on again (or the destination back), the circuit starts closed with no failures counted', async () => {
    const url = (name: string) => `${sink.url}/${name}`;
    // 1. Every destination has a breaker and is down: three circuits open, one has two failures counted.
    app = await start({
      toggled: { url: url('toggled'), circuitBreaker: OPENING },
      readded: { url: url('readded'), circuitBreaker: OPENING },
      counted: { url: url('counted'), circuitBreaker: COUNTING },
      kept: { url: url('kept'), circuitBreaker: OPENING },
    });
    for (const name of ['toggled', 'readded', 'counted', 'kept']) {
      for (let i = 0; i < 2; i++) await waitForEventStatus(db.pool, await send(`${name}.event`), 'FAILED');
    }
    expect((await circuitOf('toggled')).state).toBe('open');
    expect((await circuitOf('readded')).state).toBe('open');
    expect(await circuitOf('counted')).toMatchObject({ state: 'closed', consecutiveFailures: 2 });
    expect((await circuitOf('kept')).state).toBe('open');
    await app.stop();

    // 2. A rollout without the breakers of toggled and counted, and without readded at all; kept keeps its breaker.
    app = await start({
      toggled: { url: url('toggled'), circuitBreaker: false },
      counted: { url: url('counted') },
      kept: { url: url('kept'), circuitBreaker: OPENING },
    });
    await app.stop();

    // 3. All back as in 1. The destinations are up again, except counted.
    down.delete('/toggled');
    down.delete('/readded');
    down.delete('/kept');
    app = await start({
      toggled: { url: url('toggled'), circuitBreaker: OPENING },
      readded: { url: url('readded'), circuitBreaker: OPENING },
      counted: { url: url('counted'), circuitBreaker: COUNTING },
      kept: { url: url('kept'), circuitBreaker: OPENING },
    });
    // Before: both waited ("circuit open (next probe in 600 s)") for the cooldown of the configuration of step 1.
    const toggled = await send('toggled.event');
    const readded = await send('readded.event');
    const waitedOrDone = async (id: string) => {
      const row = await readEventRow(db.pool, id);
      return row?.status === 'COMPLETED' || row?.last_error?.includes('circuit open') ? row : undefined;
    };
    expect(await waitFor(`event ${toggled} delivered`, () => waitedOrDone(toggled))).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    expect(await waitFor(`event ${readded} delivered`, () => waitedOrDone(readded))).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    expect(await circuitOf('toggled')).toEqual({ state: 'closed', consecutiveFailures: 0, openedAt: null, openUntil: null });
    // Before: the two failures of step 1 and this one opened the circuit.
    await waitForEventStatus(db.pool, await send('counted.event'), 'FAILED');
    expect(await circuitOf('counted')).toMatchObject({ state: 'closed', consecutiveFailures: 1 });
    // A breaker kept across the restarts keeps its circuit: still open, its event waits.
    const kept = await send('kept.event');
    expect(await waitFor(`event ${kept} waiting`, () => waitedOrDone(kept))).toMatchObject({ status: 'PENDING', attempts: 0 });
    expect((await circuitOf('kept')).state).toBe('open');
  });
});

// An open circuit's end was fixed when it opened, by the cooldown of that configuration: an operator who shortened
// `cooldownMs` (10 minutes to 1 s, say, the destination back) and rolled out still saw its events wait out the old
// one. The cooldown is now the current configuration's, counted from when the circuit (re)opened (a Retry-After it
// was answered with still holds it).
describe('an open circuit whose cooldown was changed in ROUTES_FILE since it opened', () => {
  it('lets its probe through once the new cooldown has passed', async () => {
    await app?.stop();
    const url = `${sink.url}/shortened`;
    app = await start({ shortened: { url, circuitBreaker: { failureThreshold: 1, cooldownMs: 600_000 } } });
    await waitForEventStatus(db.pool, await send('shortened.event'), 'FAILED');
    const { state: opened, openedAt } = await circuitOf('shortened');
    expect(opened).toBe('open');
    await app.stop();

    down.delete('/shortened');
    app = await start({ shortened: { url, circuitBreaker: { failureThreshold: 1, cooldownMs: 1000 } } });
    // The new cooldown over, by Redis's clock.
    await waitFor('a second since the circuit opened', async () => {
      const [seconds, micros] = await redis.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) >= openedAt! + 1000;
    });
    const id = await send('shortened.event');
    const row = await waitFor(`event ${id} delivered or waiting`, async () => {
      const seen = await readEventRow(db.pool, id);
      return seen?.status === 'COMPLETED' || seen?.last_error?.includes('circuit open') ? seen : undefined;
    });
    // Before: PENDING, "waiting: shortened circuit open (next probe in 600 s)".
    expect(row).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    expect((await circuitOf('shortened')).state).toBe('closed');
  });
});
