import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser } from 'playwright-core';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { buildConsole, launchChromium, skipBrowserTests } from './support/browser.js';

/**
 * Review reproduction (rev-admin): the event detail's per-destination tag after a dead letter's replay.
 *
 * A dead letter's replay goes only to the destinations that have not taken it yet (README; the worker's claim counts
 * every successful attempt since the last COMPLETED replay). So after billing took the event in round 0 and crm kept
 * failing, the replay (round 1) sends to crm only. The console's Deliveries() looks for a success in the current
 * round only (`current = attempts.filter(replay === detail.replays)`), and falls back to earlier rounds only when the
 * event is COMPLETED: billing, which has the event and will never be sent it again, is shown "not delivered" (red)
 * while the replay runs and for good once the event is a dead letter again.
 */

const TOKEN = 'adm_dead_letter_delivered_7c2a';
const STRIPE_SECRET = 'whsec_dead_letter_delivered_stripe';
const describeBrowser = skipBrowserTests ? describe.skip : describe;
jest.setTimeout(120_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let routesFile: TempRoutesFile;
let app: InProcessService;
let browser: Browser;
// billing always takes it; crm always fails.
const sink = new HttpSink((request) => ({ status: request.path === '/crm' ? 503 : 200 }));

const statusOf = async (id: string) => (await db.pool.query('SELECT status, replays FROM webhook_events WHERE id = $1', [id])).rows[0] as { status: string; replays: number };

describeBrowser('event detail after a dead letter is replayed', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    buildConsole();
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
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await sink.stop();
    routesFile?.remove();
    await db?.drop();
    await ns?.cleanup();
  });

  it('keeps showing billing as delivered: it took the event, and the replay does not send it there again', async () => {
    const body = JSON.stringify({ id: 'evt_dead_letter_delivered_1', object: 'event', type: 'invoice.paid', data: { object: {} } });
    const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
    expect(response.status).toBe(202);
    const id = String(response.json!.id);
    await waitFor('the event to be a dead letter', async () => (await statusOf(id)).status === 'DEAD_LETTER', { timeoutMs: 30_000 });
    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`)).status).toBe(202);
    await waitFor('the replay to end as a dead letter again', async () => {
      const { status, replays } = await statusOf(id);
      return status === 'DEAD_LETTER' && replays === 1;
    }, { timeoutMs: 30_000 });
    // The truth: billing has exactly one request (round 0), crm failed in both rounds.
    expect(sink.requestsFor(id).filter((request) => request.path === '/billing')).toHaveLength(1);

    const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    await page.goto(`${app.baseUrl}/console`);
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    await page.goto(`${app.baseUrl}/console#/events/${id}`);
    await page.getByRole('heading', { name: 'Deliveries' }).waitFor();
    const tag = async (name: string) => (await page.getByRole('region', { name: `Deliveries to ${name}` }).locator('h3 .tag').textContent())?.trim();
    expect(await tag('crm')).toBe('not delivered');
    // Fails now: "not delivered".
    expect(await tag('billing')).toBe('delivered');
    await page.close();
  });
});
