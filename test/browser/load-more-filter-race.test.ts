import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { githubSignature, postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { buildConsole, launchChromium, skipBrowserTests } from './support/browser.js';

/**
 * "Load more" whose answer arrives after the operator changed the filter: the answer belongs to the old filter and
 * must not be appended to the new filter's list (rows that do not match it), nor replace the new list's cursor (the
 * new filter's events past its first page become unreachable).
 */

const TOKEN = 'adm_load_more_race_7c1e';
const STRIPE_SECRET = 'whsec_load_more_race';
const GITHUB_SECRET = 'gh-load-more-race';

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

async function sendGithub() {
  const body = JSON.stringify({ ref: 'refs/heads/main', n: counter });
  const response = await postWebhook(baseUrl, 'github', body, {
    'content-type': 'application/json',
    'x-github-event': 'push',
    'x-github-delivery': unique('delivery'),
    'x-hub-signature-256': githubSignature(body, GITHUB_SECRET),
  });
  expect(response.status).toBe(202);
}

async function sendMany(n: number, send: () => Promise<void>) {
  for (let i = 0; i < n; i += 4) await Promise.all(Array.from({ length: Math.min(4, n - i) }, send));
}

const rows = (page: Page) => page.locator('table.events-table tbody tr');
const providersListed = (page: Page) => page.locator('table.events-table tbody tr td:nth-child(4)').allTextContents();

describeBrowser('events list: a "Load more" answer that arrives after a filter change', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    buildConsole();
    db = await createTestDatabase();
    ns = createQueueNamespace();
    await sink.start();
    routesFile = writeRoutesFile({
      destinations: { billing: { url: `${sink.url}/billing` }, ci: { url: `${sink.url}/ci` } },
      routes: [
        { provider: 'stripe', to: ['billing'] },
        { provider: 'github', to: ['ci'] },
      ],
    });
    service = new ServiceProcess(
      {
        SERVICE_ROLE: 'all',
        DATABASE_URL: db.url,
        REDIS_URL: ns.redisUrl,
        QUEUE_PREFIX: ns.prefix,
        STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
        GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
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

  it('keeps the new filter\'s list to its own events and its own "Load more"', async () => {
    await sendMany(60, sendStripe);
    await sendMany(55, sendGithub);
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${baseUrl}/console`);
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    await page.goto(`${baseUrl}/console#/events?provider=stripe`);
    await waitFor('the stripe first page', async () => (await rows(page).count()) === 50, { timeoutMs: 30_000, intervalMs: 100 });
    await page.getByRole('checkbox', { name: 'Live updates' }).uncheck();

    // The stripe "Load more" is slow to answer: held until the operator has switched to github.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    await page.route(
      (url) => url.pathname.endsWith('/admin/events') && url.searchParams.get('provider') === 'stripe' && url.searchParams.has('cursor'),
      async (route: Route) => {
        held = true;
        await released;
        await route.continue();
      },
    );
    await page.getByRole('button', { name: 'Load more', exact: true }).click();
    await waitFor('the stripe Load more request held', async () => held, { timeoutMs: 10_000 });

    await page.goto(`${baseUrl}/console#/events?provider=github`);
    await waitFor('the github first page', async () => (await providersListed(page)).filter((p) => p === 'github').length === 50, { timeoutMs: 30_000, intervalMs: 100 });
    const stripeAnswer = page.waitForResponse((response) => new URL(response.url()).searchParams.has('cursor'));
    release();
    await stripeAnswer;
    // Let the view render the late answer.
    await page.waitForTimeout(500);

    const listed = await providersListed(page);
    const counts = listed.reduce<Record<string, number>>((acc, p) => ({ ...acc, [p]: (acc[p] ?? 0) + 1 }), {});
    // The github filter shows github events only, with "Load more" for its remaining 5.
    const loadMore = await page.getByRole('button', { name: 'Load more', exact: true }).count();
    expect({ counts, loadMore }).toEqual({ counts: { github: 50 }, loadMore: 1 });
  });
});
