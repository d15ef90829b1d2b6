/**
 * A resume recorded while Redis did not answer (503 "Recorded, but not yet in effect … the workers apply it within
 * 5 s of Redis answering again"). README: "`…/resume` sends the waiting events at once" and "503 if Redis did not take the change
 * (it is recorded, and takes effect once Redis answers)". Once Redis answers again the workers copy the resume within
 * PAUSE_RESYNC_MS (5 s), but nothing promotes the waiting events' delayed jobs: they stay delayed for the paused
 * recheck (PAUSED_RECHECK_MS, about 5 minutes) although their destination is no longer paused.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_resume_redis_down';
const TOKEN = 'admin-token-resume-redis-down-0123';
let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routesFile: TempRoutesFile;
// The service reaches Redis only through this proxy, so the test can cut it off without touching the shared Redis.
let proxy: TcpProxy;
const sink = new HttpSink();

type Row = { id: string; status: string; attempts: number; held_for: string[] | null };
const rowsOf = async (ids: string[]): Promise<Row[]> =>
  (await db.pool.query<Row>('SELECT id, status, attempts, held_for FROM webhook_events WHERE id = ANY($1::uuid[]) ORDER BY id', [ids])).rows;
const send = async (id: string): Promise<string> => {
  const { body, headers } = signedStripeRequest(SECRET, { id, type: 'invoice.paid' });
  const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
  expect(response.status).toBe(202);
  return response.json!.id as string;
};

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await sink.start();
  const redisUrl = new URL(ns.redisUrl);
  proxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
  await proxy.start();
  redisUrl.hostname = '127.0.0.1';
  redisUrl.port = String(proxy.port);
  routesFile = writeRoutesFile({
    destinations: { billing: { url: `${sink.url}/in` } },
    routes: [{ provider: 'stripe', to: ['billing'] }],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl.toString(),
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: SECRET,
    ROUTES_FILE: routesFile.path,
    ADMIN_API_TOKEN: TOKEN,
  });
});

afterAll(async () => {
  await app?.stop();
  await proxy?.stop();
  await sink.stop();
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

describe('a resume recorded while Redis did not answer', () => {
  it('sends the waiting events once Redis answers again and the resume is in effect (not minutes later)', async () => {
    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/billing/pause')).status).toBe(200);
    const ids = [await send('evt_resume_down_1'), await send('evt_resume_down_2')];
    await waitFor('both events waiting for the paused destination', async () =>
      (await rowsOf(ids)).every((row) => row.status === 'PENDING' && row.attempts === 0 && (row.held_for ?? []).includes('billing')),
    );

    // Redis stops answering; the operator resumes: recorded in PostgreSQL, 503 as documented.
    await proxy.stop();
    const resumed = await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/billing/resume');
    expect(resumed.status).toBe(503);
    // It says the resume will take effect without being sent again (it said "try again" next to "workers pick the
    // change up once it does").
    expect(JSON.stringify(resumed.json)).toContain('no need to send it again');
    await proxy.restart();

    // The resume takes effect once Redis answers (the workers copy it within 5 s): the destination is not paused...
    await waitFor('the resume in effect', async () => {
      const { json } = await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/destinations');
      const billing = (json?.items ?? []).find((item: { name: string }) => item.name === 'billing');
      return billing?.state && billing.state.paused === false && !billing.state.unavailable;
    }, { timeoutMs: 15_000 });
    // ...so its waiting events go now, as a resume sends them, not at their 5-minute paused recheck.
    await waitFor('both events delivered after the resume took effect', async () => (await rowsOf(ids)).every((row) => row.status === 'COMPLETED'), {
      timeoutMs: 20_000,
    });
    expect(sink.requests).toHaveLength(2);
  });
});
