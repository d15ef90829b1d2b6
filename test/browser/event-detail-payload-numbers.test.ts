import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * The event page's "Payload, formatted JSON" must show the numbers the provider sent. An integer beyond 2^53 (a
 * 64-bit account number or snowflake id) went through JavaScript numbers on its way to the page and came out
 * rounded: 12345678901234567890 is shown as 12345678901234567000, the raw body (collapsed under "Raw body") has the
 * right value. An operator copying the id from the formatted payload copies a wrong one.
 */

const SECRET = 'whsec_payload_numbers';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

describeBrowser('an event whose payload has a 64-bit integer', () => {
  beforeAll(async () => {
    // Ingress only: the event is received and stays PENDING; the page shows it as received.
    fixture = await startConsoleFixture({ token: 'adm_payload_numbers_5e2a', service: 'in-process', stripeSecret: SECRET, env: { SERVICE_ROLE: 'ingress' } });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('shows the integer as sent in the formatted payload', async () => {
    const body = '{"id":"evt_bigint_1","object":"event","type":"account.updated","data":{"object":{"account_number":12345678901234567890}}}';
    const response = await postWebhook(fixture.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, SECRET) });
    expect(response.status).toBe(202);
    const id = String(response.json!.id);

    const page = await fixture.signedInPage();
    await page.goto(`${fixture.baseUrl}/console#/events/${id}`);
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
