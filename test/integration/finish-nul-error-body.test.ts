import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { HttpSink } from '../support/http-sink.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A destination that answers a non-2xx whose body holds a NUL byte (a binary or gzip'd error page, a protobuf error).
 * PostgreSQL text cannot hold 0x00 (SQLSTATE 22021): the attempt's error text with it made the whole finish fail, so
 * the attempt's rows were never recorded, the event never left PROCESSING nor reached DEAD_LETTER, and every BullMQ
 * retry (then every reconciler re-enqueue, for ever) sent the event again to the destinations that had taken it.
 * The forwarder now shows control characters as U+FFFD, and the store replaces any NUL left before it writes.
 *
 * Expected (contract): after JOB_ATTEMPTS attempts the event is DEAD_LETTER; `good` got it once.
 */

const STRIPE_SECRET = 'whsec_nul_body';
const JOB_ATTEMPTS = 3;

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routes: TempRoutesFile;
const good = new HttpSink(() => ({ status: 200 }));
const bad = new HttpSink(() => ({ status: 502, body: 'upstream\u0000error' }));

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await good.start();
  await bad.start();
  routes = writeRoutesFile({
    destinations: { good: { url: `${good.url}/in` }, bad: { url: `${bad.url}/in` } },
    routes: [{ provider: 'stripe', to: ['good', 'bad'] }],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ROUTES_FILE: routes.path,
    JOB_ATTEMPTS: String(JOB_ATTEMPTS),
    JOB_BACKOFF_MS: '20',
    RECONCILER_INTERVAL_MS: '500',
    RECONCILER_STALE_MS: '1000',
  });
});

afterAll(async () => {
  await app?.stop();
  await good.stop();
  await bad.stop();
  routes?.remove();
  await ns?.cleanup();
  await db?.drop();
});

it('a destination error body with a NUL byte still ends the event DEAD_LETTER after JOB_ATTEMPTS, the healthy destination sent once', async () => {
  const body = JSON.stringify({ id: `evt_nul_body_${Date.now()}`, object: 'event', type: 'charge.failed', data: {} });
  const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  const id = String(response.json!.id);

  // The event's end, DEAD_LETTER (its finish writes the attempt's rows with it). Before the fix it never came: the
  // comparison below then shows what was seen at the deadline instead.
  const statusOf = async () => (await db.pool.query<{ status: string }>('SELECT status FROM webhook_events WHERE id = $1', [id])).rows[0]?.status;
  await waitFor('the event DEAD_LETTER', async () => (await statusOf()) === 'DEAD_LETTER', { timeoutMs: 30_000 }).catch(() => undefined);
  const { rows } = await db.pool.query<{ status: string; attempts: number; last_error: string | null }>(
    'SELECT status, attempts, last_error FROM webhook_events WHERE id = $1',
    [id],
  );
  const recorded = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM delivery_attempts WHERE event_id = $1', [id]);
  const observed = { status: rows[0]!.status, attempts: rows[0]!.attempts, lastError: rows[0]!.last_error, goodRequests: good.requestsFor(id).length, badRequests: bad.requestsFor(id).length, attemptRows: recorded.rows[0]!.n };
  expect(observed).toEqual({ status: 'DEAD_LETTER', attempts: JOB_ATTEMPTS, lastError: 'bad: HTTP 502: upstream\uFFFDerror', goodRequests: 1, badRequests: JOB_ATTEMPTS, attemptRows: JOB_ATTEMPTS + 1 });
});
