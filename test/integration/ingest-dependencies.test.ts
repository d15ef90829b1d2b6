import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { testServiceUrls } from '../support/test-services.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_dependencies_test';
const PAYPAL_WEBHOOK_ID = '1JE4291016473214C';

let db: TestDatabase;
let ns: TestQueueNamespace;
let pgProxy: TcpProxy;
let redisProxy: TcpProxy;
let paypal: PaypalFixture;
let app: InProcessService;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  const pgUrl = new URL(db.url);
  const redisUrl = new URL(testServiceUrls().redisUrl);
  // The service reaches both dependencies through proxies the tests can cut.
  pgProxy = new TcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
  redisProxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
  pgUrl.port = String(await pgProxy.start());
  redisUrl.port = String(await redisProxy.start());
  paypal = await new PaypalFixture().start();
  app = await startInProcessService(
    {
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: pgUrl.toString(),
      DATABASE_POOL_SIZE: '4',
      REDIS_URL: redisUrl.toString(),
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: SECRET,
      PAYPAL_WEBHOOK_ID,
      PAYPAL_CERT_HOSTS: paypal.host,
      // The PayPal tests' clients reach the ingress through a (loopback) proxy that names them in X-Forwarded-For.
      TRUST_PROXY: 'loopback',
    },
    { paypalDispatcher: paypal.agent },
  );
});

/** `webhook_dependency_up{dependency}` as the service exports it (undefined: no sample). */
async function dependencyUp(dependency: string): Promise<number | undefined> {
  const text = await (await fetch(`${app.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`webhook_dependency_up{dependency="${dependency}"}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/** `webhook_events_received_total{provider,outcome}` as the service exports it. */
async function received(provider: string, outcome: string): Promise<number | undefined> {
  const text = await (await fetch(`${app.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('webhook_events_received_total{') && l.includes(`provider="${provider}"`) && l.includes(`outcome="${outcome}"`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

afterAll(async () => {
  await app?.stop();
  await pgProxy?.stop();
  await redisProxy?.stop();
  await paypal?.stop();
  await ns?.cleanup();
  await db?.drop();
});

describe('PayPal through HTTP', () => {
  it('accepts an event signed with the certificate served over https from an allowed host', async () => {
    const body = JSON.stringify({ id: 'WH-PAYPAL-1', event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: { amount: { value: '10.00' } } });
    const response = await postWebhook(app.baseUrl, 'paypal', body, paypal.headers(body, PAYPAL_WEBHOOK_ID));
    expect(response.status).toBe(202);
    const { rows } = await db.pool.query('SELECT provider, external_id, event_type FROM webhook_events WHERE id = $1', [response.json!.id]);
    expect(rows[0]).toEqual({ provider: 'paypal', external_id: 'WH-PAYPAL-1', event_type: 'PAYMENT.CAPTURE.COMPLETED' });
  });

  it('refuses a tampered body and a signature for another webhook id', async () => {
    const body = JSON.stringify({ id: 'WH-PAYPAL-2', event_type: 'PAYMENT.CAPTURE.COMPLETED' });
    const tampered = await postWebhook(app.baseUrl, 'paypal', body.replace('CAPTURE', 'REFUND'), paypal.headers(body, PAYPAL_WEBHOOK_ID));
    expect(tampered.status).toBe(401);
    const otherHook = await postWebhook(app.baseUrl, 'paypal', body, paypal.headers(body, 'ANOTHER-WEBHOOK'));
    expect(otherHook.status).toBe(401);
  });
});

describe('PayPal certificate downloads held by forgeries', () => {
  it('a correctly signed event gets 503 (retry), not 401, and is not counted as a failed verification', async () => {
    // Forgeries from 16 clients (one may hold only a few slots), each naming a slow certificate URL of its own:
    // enough to hold every download slot (16).
    const forged = Array.from({ length: 16 }, (_, i) => {
      const body = JSON.stringify({ id: `WH-FORGED-${i}`, event_type: 'PAYMENT.CAPTURE.COMPLETED' });
      const headers = {
        ...paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, `https://${paypal.host}/v1/notifications/certs/slow/CERT-${i}`),
        'paypal-transmission-sig': Buffer.alloc(256, i).toString('base64'),
        'x-forwarded-for': `198.51.100.${i + 1}`,
      };
      return postWebhook(app.baseUrl, 'paypal', body, headers);
    });
    await waitFor('the forgeries to hold every download slot', async () => paypal.slowDownloads >= 16);

    const body = JSON.stringify({ id: 'WH-PAYPAL-BUSY', event_type: 'PAYMENT.CAPTURE.COMPLETED' });
    const headers = { ...paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, `https://${paypal.host}/v1/notifications/certs/CERT-not-yet-cached`), 'x-forwarded-for': '173.0.80.1' };
    const busy = await postWebhook(app.baseUrl, 'paypal', body, headers);
    expect(busy.status).toBe(503);
    expect(busy.json).toMatchObject({ statusCode: 503, message: expect.any(String), correlationId: expect.any(String) });
    expect(busy.headers.get('ratelimit')).toBeNull();
    // Counted as the certificate's outcome, not as `unavailable` (PostgreSQL), which pages WebhookStorageUnavailable.
    expect({ certificate: await received('paypal', 'certificate_unavailable'), storage: await received('paypal', 'unavailable') }).toEqual({ certificate: 1, storage: 0 });

    expect((await Promise.all(forged)).map((r) => r.status)).toEqual(Array(16).fill(401));
    const retried = await postWebhook(app.baseUrl, 'paypal', body, headers);
    expect(retried.status).toBe(202);
  });
});

describe('Redis down at ingest', () => {
  it('still answers 202 quickly and keeps the event PENDING for the reconciler', async () => {
    await redisProxy.stop();
    try {
      // No wall-clock bound on the answer (2 s before, a speed check a loaded machine broke): the receiver answers before
      // it enqueues (the reconciler catches a failed enqueue), so no answer waits for Redis whatever Redis does.
      const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_redis_down_1' });
      const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
      expect(response.status).toBe(202);
      const { rows } = await db.pool.query('SELECT status FROM webhook_events WHERE id = $1', [response.json!.id]);
      expect(rows[0].status).toBe('PENDING');
      // Readiness of the ingress does not depend on Redis; the full health report shows it down.
      expect((await fetch(`${app.baseUrl}/health/ready`)).status).toBe(200);
      const health = await fetch(`${app.baseUrl}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'error', error: { redis: { status: 'down' } } });
      // So does webhook_dependency_up, dependency by dependency.
      expect({ database: await dependencyUp('database'), redis: await dependencyUp('redis') }).toEqual({ database: 1, redis: 0 });

      // PayPal's certificates are shared through Redis, which is only an optimisation: without it, downloaded
      // (a lookup that waited for Redis would hang the request until the proxy is back, past the test's timeout).
      const paypalBody = JSON.stringify({ id: 'WH-PAYPAL-REDIS-DOWN', event_type: 'PAYMENT.CAPTURE.COMPLETED' });
      const certUrl = `https://${paypal.host}/v1/notifications/certs/CERT-redis-down`;
      const paypalAnswer = await postWebhook(app.baseUrl, 'paypal', paypalBody, paypal.headers(paypalBody, PAYPAL_WEBHOOK_ID, undefined, certUrl));
      expect(paypalAnswer.status).toBe(202);
    } finally {
      await redisProxy.restart();
    }
  });
});

describe('PostgreSQL down at ingest', () => {
  it('answers 503 in the error shape (so the provider retries), then recovers without a restart', async () => {
    await pgProxy.stop();
    let stopped = true;
    try {
      const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_pg_down_1' });
      const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
      expect(response.status).toBe(503);
      expect(response.json).toMatchObject({ statusCode: 503, message: expect.any(String), correlationId: expect.any(String) });
      expect((await fetch(`${app.baseUrl}/health/ready`)).status).toBe(503);
      // Unready, a pod leaves the Service and receives (and counts) no webhook any more: what its readiness check
      // found is what still says that storage is down (WebhookStorageUnavailable).
      expect(await dependencyUp('database')).toBe(0);

      await pgProxy.restart();
      stopped = false;
      const retried = await waitFor('the ingress to accept again', async () => {
        const again = await postWebhook(app.baseUrl, 'stripe', body, headers);
        return again.status === 202 ? again : undefined;
      });
      expect(retried.json).toMatchObject({ status: 'PENDING', duplicate: false });
      expect(Number((await db.pool.query("SELECT count(*)::int AS n FROM webhook_events WHERE external_id = 'evt_pg_down_1'")).rows[0].n)).toBe(1);
      expect((await fetch(`${app.baseUrl}/health/ready`)).status).toBe(200);
      expect(await dependencyUp('database')).toBe(1);
    } finally {
      if (stopped) await pgProxy.restart();
    }
  });
});
