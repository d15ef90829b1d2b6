import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser } from 'playwright-core';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { buildConsole, launchChromium, skipBrowserTests } from './support/browser.js';

/**
 * The event page's "Payload, formatted JSON" must show the numbers the provider sent. An integer beyond 2^53 (a
 * 64-bit account number or snowflake id) went through JavaScript numbers on its way to the page and came out
 * rounded: 12345678901234567890 is shown as 12345678901234567000, the raw body (collapsed under "Raw body") has the
 * right value. An operator copying the id from the formatted payload copies a wrong one.
 */

const TOKEN = 'adm_payload_numbers_5e2a';
const SECRET = 'whsec_payload_numbers';
const describeBrowser = skipBrowserTests ? describe.skip : describe;
jest.setTimeout(120_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let browser: Browser;

describeBrowser('an event whose payload has a 64-bit integer', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    buildConsole();
    db = await createTestDatabase();
    ns = createQueueNamespace();
    // Ingress only: the event is received and stays PENDING; the page shows it as received.
    app = await startInProcessService({ SERVICE_ROLE: 'ingress', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, ADMIN_API_TOKEN: TOKEN, STRIPE_WEBHOOK_SECRET: SECRET });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await db?.drop();
    await ns?.cleanup();
  });

  it('shows the integer as sent in the formatted payload', async () => {
    const body = '{"id":"evt_bigint_1","object":"event","type":"account.updated","data":{"object":{"account_number":12345678901234567890}}}';
    const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, SECRET) });
    expect(response.status).toBe(202);
    const id = String(response.json!.id);

    const page = await browser.newPage();
    await page.goto(`${app.baseUrl}/console`);
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    await page.goto(`${app.baseUrl}/console#/events/${id}`);
    const formatted = page.locator('pre[aria-label="Payload, formatted JSON"]');
    await formatted.waitFor();
    const text = await formatted.innerText();
    const shown = /"account_number": (\S+)/.exec(text)?.[1];
    // The raw body has it right; the formatted payload must too.
    expect(await page.locator('pre[aria-label="Raw body"]').textContent()).toContain('"account_number":12345678901234567890');
    expect(shown).toBe('12345678901234567890');
    await page.close();
  });
});
