import path from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { buildConsole, launchChromium, screenshotsDir, skipBrowserTests } from './support/browser.js';

/**
 * The console's Destinations view with destination protection, in a real browser against a real service process
 * (SERVICE_ROLE=all): pause a destination, see its events wait (held, no attempt used), resume it, see them go;
 * a circuit breaker's settings and a rate limit shown; no serious accessibility violation.
 */

const TOKEN = 'adm_destinations_browser_41d2';
const STRIPE_SECRET = 'whsec_destinations_browser_stripe';
const describeBrowser = skipBrowserTests ? describe.skip : describe;
jest.setTimeout(120_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let routesFile: TempRoutesFile;
let service: ServiceProcess;
let browser: Browser;
const sink = new HttpSink();

async function sendStripe(id: string) {
  const body = JSON.stringify({ id, object: 'event', type: 'invoice.paid', data: { object: {} } });
  const response = await postWebhook(service.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

const row = (page: Page, name: string) => page.getByRole('row', { name: new RegExp(`^${name}\\b`) });

describeBrowser('the Destinations view: pause, resume, waiting events', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    buildConsole();
    [db] = await Promise.all([createTestDatabase(), sink.start()]);
    ns = createQueueNamespace();
    routesFile = writeRoutesFile({
      destinations: {
        billing: { url: `${sink.url}/billing`, circuitBreaker: { failureThreshold: 5, cooldownMs: 30_000 } },
        crm: { url: `${sink.url}/crm`, rateLimit: { perSecond: 50 } },
      },
      routes: [{ provider: 'stripe', to: ['billing', 'crm'] }],
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
        POD_DELETION_COST_ENABLED: 'false',
      },
      await freePort(),
    );
    await service.start();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await service?.kill();
    await sink.stop();
    routesFile?.remove();
    await db?.drop();
    await ns?.cleanup();
  });

  it('pauses crm from the view, shows its event waiting while billing took it, resumes it and the event is delivered', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${service.baseUrl}/console`);
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Destinations' }).click();
    await page.getByRole('heading', { name: 'Destinations', level: 1 }).waitFor();
    await expect(row(page, 'billing').textContent()).resolves.toContain('breaker: 5 failures, 30.0 s cooldown');
    await expect(row(page, 'crm').textContent()).resolves.toContain('≤ 50/s');

    await page.getByRole('button', { name: 'Pause crm' }).click();
    await page.locator('p.notice', { hasText: 'crm paused' }).waitFor();
    await page.getByRole('button', { name: 'Resume crm' }).waitFor();
    const id = await sendStripe('evt_destinations_view_1');
    await waitFor('billing to have the event', () => sink.requestsFor(id).some((request) => request.path === '/billing'), { timeoutMs: 20_000 });
    await waitFor(
      'the view to show crm paused with one event waiting',
      async () => {
        await page.getByRole('link', { name: 'Destinations' }).click();
        const text = (await row(page, 'crm').textContent()) ?? '';
        return text.includes('paused') && /(^|[^0-9])1\s*event(?!s)/.test(text);
      },
      { timeoutMs: 30_000, intervalMs: 1000 },
    );
    expect(sink.requestsFor(id).filter((request) => request.path === '/crm')).toEqual([]);
    const { rows } = await db.pool.query('SELECT status, attempts, last_error FROM webhook_events WHERE id = $1', [id]);
    expect(rows[0]).toEqual({ status: 'PENDING', attempts: 0, last_error: 'waiting: crm paused' });
    const serious = (await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze()).violations.filter(
      (violation) => violation.impact === 'serious' || violation.impact === 'critical',
    );
    expect(serious.map((violation) => violation.id)).toEqual([]);
    await page.screenshot({ path: path.join(screenshotsDir, '10-destinations-paused.png'), fullPage: true });

    await page.getByRole('button', { name: 'Resume crm' }).click();
    await page.locator('p.notice', { hasText: 'crm resumed' }).waitFor();
    await waitFor('crm to have the event', () => sink.requestsFor(id).some((request) => request.path === '/crm'), { timeoutMs: 15_000 });
    await waitFor('the event COMPLETED', async () => (await db.pool.query('SELECT status FROM webhook_events WHERE id = $1', [id])).rows[0]?.status === 'COMPLETED', { timeoutMs: 15_000 });
    await context.close();
  });
});
