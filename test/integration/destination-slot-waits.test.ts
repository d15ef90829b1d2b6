import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

// A delivery is admitted (not paused, circuit closed) before it queues for one of its destination's slots
// (maxConcurrency). What admitted it may change while it waits: it is asked again once it holds the slot.

const SECRET = 'whsec_slot_waits';
const TOKEN = 'admin-token-slot-waits-0123456789';
let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routesFile: TempRoutesFile;
const pausable = new HttpSink(() => ({ status: 200, delayMs: 1500 }));
const failing = new HttpSink(() => ({ status: 500, delayMs: 1000 }));

type Row = { id: string; status: string; attempts: number; held_for: string[] | null; last_error: string | null };
const rowOf = async (id: string): Promise<Row> =>
  (await db.pool.query<Row>('SELECT id, status, attempts, held_for, last_error FROM webhook_events WHERE id = $1', [id])).rows[0]!;
const send = async (id: string, type: string): Promise<string> => {
  const { body, headers } = signedStripeRequest(SECRET, { id, type });
  const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
  expect(response.status).toBe(202);
  return response.json!.id as string;
};

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await Promise.all([pausable.start(), failing.start()]);
  routesFile = writeRoutesFile({
    destinations: {
      pausable: { url: `${pausable.url}/in`, maxConcurrency: 1 },
      failing: { url: `${failing.url}/in`, maxConcurrency: 1, circuitBreaker: { failureThreshold: 1, cooldownMs: 60_000 } },
    },
    routes: [
      { provider: 'stripe', events: ['pause.*'], to: ['pausable'] },
      { provider: 'stripe', events: ['circuit.*'], to: ['failing'] },
    ],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: SECRET,
    ROUTES_FILE: routesFile.path,
    ADMIN_API_TOKEN: TOKEN,
    // No retry within the test: a second request to a sink could only be a delivery that should have waited.
    JOB_BACKOFF_MS: '120000',
  });
});

afterAll(async () => {
  await app?.stop();
  await Promise.all([pausable.stop(), failing.stop()]);
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

describe('a delivery waiting for a slot', () => {
  it('is not sent once its destination is paused meanwhile: it waits (no attempt), and goes on resume', async () => {
    const first = await send('evt_slot_pause_1', 'pause.a');
    await waitFor('the first delivery in flight', async () => pausable.requestsFor(first).length === 1);
    const second = await send('evt_slot_pause_2', 'pause.a');
    // The second is admitted and queues behind the first's slot; then the operator pauses the destination.
    await waitFor('the second event claimed', async () => (await rowOf(second)).status === 'PROCESSING');
    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/pausable/pause')).json).toMatchObject({ paused: true });

    await waitFor('the first delivered', async () => (await rowOf(first)).status === 'COMPLETED');
    const held = await waitFor('the second waiting for the paused destination', async () => {
      const row = await rowOf(second);
      return row.status === 'PENDING' && row.held_for?.includes('pausable') ? row : undefined;
    });
    expect(held).toMatchObject({ attempts: 0, last_error: 'waiting: pausable paused' });
    expect(pausable.requestsFor(second)).toEqual([]);

    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/pausable/resume')).json).toMatchObject({ paused: false });
    await waitFor('the second delivered after the resume', async () => (await rowOf(second)).status === 'COMPLETED', { timeoutMs: 15_000 });
    expect(pausable.requestsFor(second)).toHaveLength(1);
  });

  it('is not sent once earlier failures opened the circuit meanwhile: it waits without using an attempt', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) ids.push(await send(`evt_slot_circuit_${n}`, 'circuit.a'));
    const rows = await waitFor('one failed attempt, the others waiting for the open circuit', async () => {
      const all = await Promise.all(ids.map(rowOf));
      const failed = all.filter((row) => row.status === 'FAILED');
      const waiting = all.filter((row) => row.status === 'PENDING' && row.held_for?.includes('failing'));
      return failed.length === 1 && waiting.length === 2 ? { failed, waiting } : undefined;
    }, { timeoutMs: 15_000 });
    expect(rows.failed[0]).toMatchObject({ attempts: 1 });
    expect(rows.waiting.every((row) => row.attempts === 0 && row.last_error?.startsWith('waiting: failing circuit'))).toBe(true);
    expect(failing.requests).toHaveLength(1);
  });
});
