import type { Route } from 'playwright-core';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rowFor } from './support/console-locators.js';

/**
 * The events view's provider and event-type filters are filled from a request of their own (GET
 * /admin/events/facets), which can fail while the list's does not. Its failure was never shown: the provider
 * dropdown offered only "All providers" and the event types none, as though there were no providers, and nothing
 * said why. The failure is now shown above the list, as the counts' is, with the time of the next try and
 * "Retry now".
 */

const TOKEN = 'adm_events_facets_failed_5b2d';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

describeBrowser('events filters whose provider and event-type lists fail to load', () => {
  beforeAll(async () => {
    // Ingress only: the events stay PENDING.
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', stripeSecret: 'whsec_events_facets_failed', env: { SERVICE_ROLE: 'ingress' } });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('says the lists could not be loaded, and fills the filters once "Retry now" succeeds', async () => {
    const sent = await fixture.sendStripe('invoice.paid');
    const page = await fixture.newPage();
    const facets = (url: URL) => url.pathname.endsWith('/admin/events/facets');
    const refuse = (route: Route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        headers: { 'Retry-After': '600' },
        body: JSON.stringify({ statusCode: 503, timestamp: new Date().toISOString(), path: '/admin/events/facets', message: 'Storage is temporarily unavailable; retry later', correlationId: 'c', traceId: null }),
      });
    await page.route(facets, refuse);
    const failed = page.waitForResponse((response) => facets(new URL(response.url())) && response.status() === 503);
    await fixture.signIn(page);
    await failed;
    // The list itself loads.
    await rowFor(page, sent.externalId).waitFor();

    // Fails without the fix: no alert, only "All providers" in the provider filter.
    const alert = page.getByRole('alert').filter({ hasText: 'Could not load the providers and event types' });
    const providerOptions = page.locator('#filter-provider option');
    await waitFor('the failed lists said', async () => {
      if ((await alert.count()) === 1) return true;
      throw new Error(`no alert; the provider filter offers ${JSON.stringify(await providerOptions.allTextContents())}`);
    });
    expect(await alert.textContent()).toContain('Storage is temporarily unavailable; retry later');

    // The service answers again: "Retry now" fills the filters, and the error goes.
    await page.unroute(facets, refuse);
    await page.locator('.facets-error').getByRole('button', { name: 'Retry now' }).click();
    await waitFor('stripe offered as a provider', async () => (await page.locator('#filter-provider option', { hasText: 'stripe' }).count()) === 1);
    await waitFor('the error gone', async () => (await alert.count()) === 0);
    await page.close();
  });

  it('had no page error', () => {
    expect(fixture.pageErrors).toEqual([]);
  });
});
