import type { Page, Route } from 'playwright-core';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rows } from './support/console-locators.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The counts per status above the events list are the counts of the filter the list shows. When the filter changed,
 * they went on showing the counts of the filter before until the new ones arrived, and, should those not arrive (the
 * counts' request failing, retried on its own, with no error of its own shown), for as long as that lasted: here
 * "Pending 3" from every provider, above a list filtered to a provider with no pending event. Until the filter's own
 * counts arrive they say nothing ("…"), as on the first load.
 */

const TOKEN = 'adm_counts_other_filter_8b1e';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

const pendingCount = (page: Page) => page.locator('.counts button.count--pending .count__value');

describeBrowser('events counts when the filter changes', () => {
  beforeAll(async () => {
    // Ingress only: the events stay PENDING.
    fixture = await startConsoleFixture({
      token: TOKEN,
      service: 'in-process',
      stripeSecret: 'whsec_counts_other_filter',
      githubSecret: 'gh-counts-other-filter',
      env: { SERVICE_ROLE: 'ingress' },
    });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('does not show the counts of the filter before under the new one', async () => {
    for (let i = 0; i < 3; i++) await fixture.sendStripe('invoice.paid');
    const page = await fixture.signedInPage();
    await page.goto(`${fixture.baseUrl}/console#/events`);
    await waitFor('the pending count of every provider', async () => (await pendingCount(page).innerText()).trim() === '3');

    // The counts of github's events fail (the service answers them 503, as when PostgreSQL is slow to count); its list
    // loads: no github event, so an empty list.
    await page.route(
      (url) => url.pathname.endsWith('/admin/events/counts') && url.searchParams.get('provider') === 'github',
      (route: Route) => route.fulfill({ status: 503, contentType: 'application/json', headers: { 'Retry-After': '600' }, body: JSON.stringify({ statusCode: 503, message: 'Storage unavailable' }) }),
    );
    const counted = page.waitForResponse((response) => response.url().includes('/admin/events/counts') && response.url().includes('provider=github'));
    await page.evaluate(`location.hash = '#/events?provider=github'`);
    await counted;
    // The list is github's by now: none of the stripe events in it.
    await waitFor('the list filtered to github', async () => (await rows(page).filter({ hasText: 'stripe' }).count()) === 0);
    expect({ rows: await rows(page).filter({ hasText: 'stripe' }).count(), pending: (await pendingCount(page).innerText()).trim() }).toEqual({ rows: 0, pending: '…' });
    await page.close();
  });
});
