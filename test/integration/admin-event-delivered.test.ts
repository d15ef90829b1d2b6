import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * GET /admin/events/{id} says which destinations have the event (`delivered`), by the worker's own rule: a successful
 * attempt since the last replay of the event as COMPLETED, in any round. So after a dead letter's replay a destination
 * that took the event in round 0 (and is not sent it again) is in it; after a COMPLETED event's replay (which sends it
 * to every destination again) only the destinations that took it since are.
 */

const TOKEN = 'adm_event_delivered_41d0';
const STRIPE_SECRET = 'whsec_event_delivered_stripe';
jest.setTimeout(60_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let routesFile: TempRoutesFile;
let app: InProcessService;
/** Which destinations answer 503. */
const failing = new Set<string>(['/crm']);
const sink = new HttpSink((request) => ({ status: failing.has(request.path) ? 503 : 200 }));

const statusOf = async (id: string) => (await db.pool.query('SELECT status, replays FROM webhook_events WHERE id = $1', [id])).rows[0] as { status: string; replays: number };
const settled = (id: string, status: string, replays: number) =>
  waitFor(`the event to be ${status} in round ${replays}`, async () => {
    const now = await statusOf(id);
    return now.status === status && now.replays === replays;
  }, { timeoutMs: 30_000 });
const detail = async (id: string) => {
  const response = await adminRequest(app.baseUrl, TOKEN, 'GET', `/admin/events/${id}`);
  expect(response.status).toBe(200);
  return response.json as { delivered: string[]; deliveries: { destination: string; replay: number; succeeded: boolean }[] };
};
const replay = async (id: string) => expect((await adminRequest(app.baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`)).status).toBe(202);

beforeAll(async () => {
  [db] = await Promise.all([createTestDatabase(), sink.start()]);
  ns = createQueueNamespace();
  routesFile = writeRoutesFile({
    destinations: { billing: { url: `${sink.url}/billing` }, crm: { url: `${sink.url}/crm` } },
    routes: [{ provider: 'stripe', to: ['billing', 'crm'] }],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ADMIN_API_TOKEN: TOKEN,
    ROUTES_FILE: routesFile.path,
    JOB_ATTEMPTS: '2',
    JOB_BACKOFF_MS: '20',
    POD_DELETION_COST_ENABLED: 'false',
  });
});

afterAll(async () => {
  await app?.stop();
  await sink.stop();
  routesFile?.remove();
  await db?.drop();
  await ns?.cleanup();
});

describe('the event detail’s `delivered`', () => {
  it('follows the worker across a dead letter’s replays and a COMPLETED event’s replay', async () => {
    const body = JSON.stringify({ id: 'evt_event_delivered_1', object: 'event', type: 'invoice.paid', data: { object: {} } });
    const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
    expect(response.status).toBe(202);
    const id = String(response.json!.id);
    const billingRequests = () => sink.requestsFor(id).filter((request) => request.path === '/billing').length;

    // Round 0: billing takes it, crm fails: a dead letter that billing has.
    await settled(id, 'DEAD_LETTER', 0);
    expect((await detail(id)).delivered).toEqual(['billing']);

    // A dead letter's replay (round 1) goes to crm only, which fails again: billing still has it from round 0.
    await replay(id);
    await settled(id, 'DEAD_LETTER', 1);
    const afterReplay = await detail(id);
    expect(afterReplay.deliveries.filter((delivery) => delivery.replay === 1).map((delivery) => delivery.destination)).not.toContain('billing');
    expect(billingRequests()).toBe(1);
    expect(afterReplay.delivered).toEqual(['billing']);

    // crm recovers; the next replay completes the event: both have it.
    failing.delete('/crm');
    await replay(id);
    await settled(id, 'COMPLETED', 2);
    expect((await detail(id)).delivered).toEqual(['billing', 'crm']);
    expect(billingRequests()).toBe(1);

    // A COMPLETED event's replay sends it to every destination again; billing now fails: only crm has it since.
    failing.add('/billing');
    await replay(id);
    await settled(id, 'DEAD_LETTER', 3);
    expect(billingRequests()).toBe(3);
    expect((await detail(id)).delivered).toEqual(['crm']);
  });
});
