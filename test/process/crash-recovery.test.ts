import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const STRIPE_SECRET = 'whsec_crash_test';

let db: TestDatabase;
let ns: TestQueueNamespace;
let routes: TempRoutesFile;
let ingress: InProcessService;
const workers: ServiceProcess[] = [];
// Holds the first request it gets (the worker is killed meanwhile); answers later ones at once.
let heldIndex = -1;
const sink = new HttpSink((_request, index) => ({ status: 200, delayMs: index === heldIndex ? 3000 : 0 }));

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await sink.start();
  routes = writeRoutesFile({ destinations: { sink: { url: `${sink.url}/in`, timeoutMs: 20_000 } }, routes: [{ provider: 'stripe', to: ['sink'] }] });
  // The ingress runs in the test process; the workers are real processes (SERVICE_ROLE=worker), as Kubernetes runs them.
  ingress = await startInProcessService({
    SERVICE_ROLE: 'ingress',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
  });
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.kill()));
  await ingress?.stop();
  await sink.stop();
  routes?.remove();
  await ns?.cleanup();
  await db?.drop();
});

async function startWorker(): Promise<ServiceProcess> {
  const worker = new ServiceProcess(
    {
      SERVICE_ROLE: 'worker',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      ROUTES_FILE: routes.path,
      JOB_BACKOFF_MS: '50',
      // The lock a worker takes lasts this long; a killed worker's job is taken back by the next stalled check.
      WORKER_LOCK_DURATION_MS: '1000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      RECONCILER_INTERVAL_MS: '60000',
    },
    await freePort(),
  );
  workers.push(worker);
  return worker.start();
}

describe('a worker killed during a delivery', () => {
  it('loses nothing: another worker takes the job back and the event ends COMPLETED', async () => {
    const first = await startWorker();
    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: `evt_crash_${Date.now()}` });
    heldIndex = sink.requests.length;
    const response = await postWebhook(ingress.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    const id = String(response.json!.id);

    await waitFor('the sink to hold the delivery', () => sink.requestsFor(id).length === 1);
    first.signal('SIGKILL');
    expect(await first.exited(10_000)).toEqual({ code: null, signal: 'SIGKILL' });
    const stranded = await db.pool.query('SELECT status, attempts FROM webhook_events WHERE id = $1', [id]);
    expect(stranded.rows[0]).toEqual({ status: 'PROCESSING', attempts: 1 });

    await startWorker();
    const row = await waitFor(
      'the event to be completed by the second worker',
      async () => {
        const { rows } = await db.pool.query('SELECT status, attempts FROM webhook_events WHERE id = $1', [id]);
        return rows[0]?.status === 'COMPLETED' ? rows[0] : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(row.attempts).toBe(2);
    // At-least-once: the receiver saw it again, always under the same webhook-id, so it can deduplicate.
    const received = sink.requestsFor(id);
    expect(received.length).toBeGreaterThanOrEqual(1);
    expect(new Set(received.map((request) => request.headers['webhook-id']))).toEqual(new Set([id]));
    expect(received.every((request) => request.body.toString('utf8') === body)).toBe(true);
    const { rows: attempts } = await db.pool.query('SELECT destination, attempt, succeeded FROM delivery_attempts WHERE event_id = $1', [id]);
    expect(attempts).toEqual([{ destination: 'sink', attempt: 2, succeeded: true }]);
  });
});
