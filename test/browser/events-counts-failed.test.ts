import type { Route } from 'playwright-core';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rowFor } from './support/console-locators.js';

/**
 * The counts per status above the events list come from a request of their own (GET /admin/events/counts), which can
 * fail while the list's does not (it reads up to 10,001 index entries per status; a 429; a statement timeout). Its
 * failure was never shown: the counts kept the numbers of their last success, refreshed every 4 s no more, while the
 * list under them went on changing, or said "…" for good under a new filter. The failure is now shown under the
 * counts, as the views show theirs, with the time of the next try and "Retry now".
 */

const TOKEN = 'adm_events_counts_failed_3a7e';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

describeBrowser('events counts whose request fails', () => {
  beforeAll(async () => {
    // Ingress only: the events stay PENDING.
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', stripeSecret: 'whsec_events_counts_failed', env: { SERVICE_ROLE: 'ingress' } });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('says the counts could not be refreshed while the list goes on', async () => {
    await fixture.sendStripe('invoice.paid');
    const page = await fixture.signedInPage();
    const pending = page.locator('.counts button.count--pending .count__value');
    await waitFor('the pending count', async () => (await pending.innerText()).trim() === '1');

    const counts = (url: URL) => url.pathname.endsWith('/admin/events/counts');
    const refuse = (route: Route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        headers: { 'Retry-After': '600' },
        body: JSON.stringify({ statusCode: 503, timestamp: new Date().toISOString(), path: '/admin/events/counts', message: 'Storage is temporarily unavailable; retry later', correlationId: 'c', traceId: null }),
      });
    await page.route(counts, refuse);
    // The next live refresh of the counts fails; the list's goes on and shows a new event.
    const failed = page.waitForResponse((response) => counts(new URL(response.url())) && response.status() === 503);
    const second = await fixture.sendStripe('invoice.paid');
    await failed;
    await rowFor(page, second.externalId).waitFor();

    // Fails without the fix: no alert, and "Pending 1" above a list of two pending events.
    const alert = page.getByRole('alert').filter({ hasText: 'Could not count the events' });
    await waitFor('the failed counts said', async () => {
      if ((await alert.count()) === 1) return true;
      throw new Error(`no alert; the counts say Pending ${JSON.stringify((await pending.innerText()).trim())}`);
    });
    expect(await alert.textContent()).toContain('Storage is temporarily unavailable; retry later');

    // The service answers again: "Retry now" brings the counts up to date, and the error goes.
    await page.unroute(counts, refuse);
    await page.locator('.counts-error').getByRole('button', { name: 'Retry now' }).click();
    await waitFor('the counts up to date', async () => (await pending.innerText()).trim() === '2');
    await waitFor('the error gone', async () => (await alert.count()) === 0);
    await page.close();
  });
});
