/**
 * A 503 because a dependency is unavailable carries `Retry-After: 5` on every route. The webhook route's did; the
 * admin API's (PostgreSQL unreachable) carried none, so the console (which waits out a 503's Retry-After) and scripts
 * had nothing to go by, and the two answers to the same outage differed.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { signedStripeRequest, postWebhook } from '../support/signing.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../../services/shared/http/unavailable-retry-after.js';
import { waitFor } from '../support/wait-for.js';

const TOKEN = 'admin-unavailable-retry-after-0123456789abcdef';
const SECRET = 'whsec_admin_unavailable';

let db: TestDatabase;
let ns: TestQueueNamespace;
let pgProxy: TcpProxy;
let app: InProcessService;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  const pgUrl = new URL(db.url);
  // The service reaches PostgreSQL through a proxy the test cuts.
  pgProxy = new TcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
  pgUrl.port = String(await pgProxy.start());
  app = await startInProcessService({
    SERVICE_ROLE: 'ingress',
    DATABASE_URL: pgUrl.toString(),
    DATABASE_POOL_SIZE: '4',
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: SECRET,
    ADMIN_API_TOKEN: TOKEN,
  });
});

afterAll(async () => {
  await app?.stop();
  await pgProxy?.stop();
  await ns?.cleanup();
  await db?.drop();
});

it('an admin request answered 503 while PostgreSQL is unreachable carries Retry-After, as the webhook route’s 503 does (before: none)', async () => {
  const admin = () => fetch(`${app.baseUrl}/admin/events?limit=1`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect((await admin()).status).toBe(200);
  await pgProxy.stop();

  let answer: Response | undefined;
  await waitFor('the admin API to answer 503 with PostgreSQL cut off', async () => (answer = await admin()).status === 503);
  const body = (await answer!.json()) as { code?: string };
  expect({ code: body.code, retryAfter: answer!.headers.get('retry-after') }).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfter: String(UNAVAILABLE_RETRY_AFTER_SECONDS) });

  // The webhook route's answer to the same outage, for comparison: the same header.
  const { body: event, headers } = signedStripeRequest(SECRET, { id: 'evt_admin_unavailable' });
  const webhook = await postWebhook(app.baseUrl, 'stripe', event, headers);
  expect({ status: webhook.status, retryAfter: webhook.headers.get('retry-after') }).toEqual({ status: 503, retryAfter: String(UNAVAILABLE_RETRY_AFTER_SECONDS) });
});
