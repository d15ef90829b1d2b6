import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Route } from 'playwright-core';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rows, rowFor, setLiveUpdates } from './support/console-locators.js';

/**
 * README (Console): the Events list highlights the events a live refresh brought on top as new arrivals. A list's
 * first page is not new arrivals: none of its rows is highlighted, whatever the operator did while it loaded and
 * whatever was highlighted on the list shown before it.
 *
 * Found in CI (console-retry-backoff): "Live updates" switched off right after sign-in, while the first page was still
 * on its way, restarted the list's loading as a live refresh of an empty list, so every row of the first page came
 * highlighted (and "3 new events" was announced); and a first page kept the highlights of the list before it.
 */

jest.setTimeout(180_000);

let fixture: ConsoleFixture;

const highlighted = (page: Parameters<typeof rows>[0]) => page.locator('table.events-table tbody tr.row--new');

describeBrowser('rows highlighted as new arrivals', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: 'adm_new_rows_highlight_71c4',
      stripeSecret: 'whsec_new_rows_highlight',
      env: { RECONCILER_INTERVAL_MS: '600000', POD_DELETION_COST_ENABLED: 'false' },
    });
    for (let i = 0; i < 3; i++) await fixture.sendStripe('invoice.paid');
  }, 180_000);

  afterAll(() => fixture?.close());

  it('live updates switched off while the first page is on its way: its rows are the list, not new events', async () => {
    const page = await fixture.newPage();
    // The list's requests wait until the box is switched: the first page is still on its way when it is. (Not the
    // sign-in's check of the token, which reads one event.)
    const held: Route[] = [];
    let holding = true;
    await page.route(
      (url) => url.pathname.endsWith('/admin/events') && url.searchParams.get('limit') !== '1',
      (route) => (holding ? void held.push(route) : route.continue()),
    );
    await fixture.signIn(page);
    await waitFor('the first page asked for', () => held.length >= 1, { timeoutMs: 30_000 });
    await setLiveUpdates(page, false);
    await page.getByText('paused', { exact: true }).waitFor();
    holding = false;
    // The aborted ones fail to continue: the page no longer waits for them.
    for (const route of held) await route.continue().catch(() => undefined);

    await waitFor('the three events listed', async () => (await rows(page).count()) === 3, { timeoutMs: 30_000, intervalMs: 100 });
    expect(await highlighted(page).count()).toBe(0);
    expect(await page.getByText(/new events?$/).count()).toBe(0);
  });

  it("a new filter's first page does not keep the highlights of the list before it", async () => {
    const page = await fixture.signedInPage();
    await waitFor('the events listed', async () => (await rows(page).count()) === 3, { timeoutMs: 30_000, intervalMs: 100 });
    const arrived = await fixture.sendStripe('customer.created');
    // A live refresh brings it on top, highlighted.
    await waitFor('the new event highlighted', async () => (await highlighted(page).filter({ hasText: arrived.externalId }).count()) === 1, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });

    await page.goto(`${fixture.baseUrl}/console#/events?eventType=customer.created`);
    await waitFor('the filtered list', async () => (await rows(page).count()) === 1 && (await rowFor(page, arrived.externalId).count()) === 1, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    expect(await highlighted(page).count()).toBe(0);
  });
});
