import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { buildConsole, launchChromium, skipBrowserTests } from './support/browser.js';

/**
 * README (console): "New events and status changes appear on their own (the list refreshes every 4 s while the tab
 * is visible)". The events past the first page ("Load more") must show their status changes too: here 60 events wait
 * for a paused destination (Pending), the operator loads them all, resumes the destination, and every event completes.
 */

const TOKEN = 'adm_stale_rows_3f9a';
const STRIPE_SECRET = 'whsec_stale_rows';

const describeBrowser = skipBrowserTests ? describe.skip : describe;
jest.setTimeout(240_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let routesFile: TempRoutesFile;
let service: ServiceProcess;
let browser: Browser;
let baseUrl: string;
const sink = new HttpSink(() => ({ status: 200 }));
const contexts: BrowserContext[] = [];

let counter = 0;
const unique = (label: string) => `${label}_${Date.now().toString(36)}_${counter++}`;

async function sendStripe() {
  const externalId = unique('evt');
  const body = JSON.stringify({ id: externalId, object: 'event', type: 'invoice.paid', data: { object: { id: unique('in') } } });
  const response = await postWebhook(baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
}

async function sendMany(n: number, send: () => Promise<void>) {
  for (let i = 0; i < n; i += 4) await Promise.all(Array.from({ length: Math.min(4, n - i) }, send));
}

const rows = (page: Page) => page.locator('table.events-table tbody tr');

describeBrowser('events list: status changes of the rows loaded with "Load more"', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    buildConsole();
    db = await createTestDatabase();
    ns = createQueueNamespace();
    await sink.start();
    routesFile = writeRoutesFile({
      destinations: { billing: { url: `${sink.url}/billing` } },
      routes: [
        { provider: 'stripe', to: ['billing'] },
      ],
    });
    service = new ServiceProcess(
      {
        SERVICE_ROLE: 'all',
        DATABASE_URL: db.url,
        REDIS_URL: ns.redisUrl,
        QUEUE_PREFIX: ns.prefix,
        STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
        ADMIN_API_TOKEN: TOKEN,
        ROUTES_FILE: routesFile.path,
        RECONCILER_INTERVAL_MS: '600000',
        POD_DELETION_COST_ENABLED: 'false',
      },
      await freePort(),
    );
    await service.start();
    baseUrl = service.baseUrl;
  }, 180_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    if (service) {
      service.signal('SIGTERM');
      await service.exited().catch(() => service.kill());
    }
    await sink.stop();
    routesFile?.remove();
    await ns?.cleanup();
    await db?.drop();
  });

  it('updates the status of the rows past the first page', async () => {
    const paused = await adminRequest(baseUrl, TOKEN, 'POST', '/admin/destinations/billing/pause');
    expect(paused.status).toBe(200);
    await sendMany(60, sendStripe);
    await waitFor('60 stripe events waiting (PENDING)', async () => Number((await db.pool.query(`SELECT count(*) AS n FROM webhook_events WHERE provider = 'stripe' AND status = 'PENDING' AND last_error LIKE 'waiting:%'`)).rows[0].n) === 60, { timeoutMs: 60_000, intervalMs: 200 });

    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${baseUrl}/console`);
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    await page.goto(`${baseUrl}/console#/events?provider=stripe`);
    await waitFor('the first page', async () => (await rows(page).count()) === 50, { timeoutMs: 30_000, intervalMs: 100 });
    await page.getByRole('button', { name: 'Load more', exact: true }).click();
    await waitFor('all 60 listed', async () => (await rows(page).count()) === 60, { timeoutMs: 30_000, intervalMs: 100 });

    const resumed = await adminRequest(baseUrl, TOKEN, 'POST', '/admin/destinations/billing/resume');
    expect(resumed.status).toBe(200);
    await waitFor('60 stripe events COMPLETED', async () => Number((await db.pool.query(`SELECT count(*) AS n FROM webhook_events WHERE provider = 'stripe' AND status = 'COMPLETED'`)).rows[0].n) === 60, { timeoutMs: 60_000, intervalMs: 200 });

    // Three live refreshes (4 s each) after every event completed.
    const statuses = async () => (await page.locator('table.events-table tbody tr td:nth-child(3)').allTextContents()).map((text) => text.trim());
    await waitFor('every row Completed', async () => (await statuses()).every((s) => s.startsWith('Completed')), { timeoutMs: 15_000, intervalMs: 250 }).catch(() => undefined);
    const shown = await statuses();
    const notCompleted = shown.map((s, index) => ({ row: index + 1, s })).filter(({ s }) => !s.startsWith('Completed'));
    expect({ rows: shown.length, notCompleted }).toEqual({ rows: 60, notCompleted: [] });
  });
});
