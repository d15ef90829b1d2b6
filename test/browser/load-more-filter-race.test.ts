import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page, Route } from 'playwright-core';
import { waitFor } from '../support/wait-for.js';
import { afterRendering } from './support/after-rendering.js';
import { describeBrowser } from './support/browser.js';
import { sendMany, startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rows, setLiveUpdates } from './support/console-locators.js';

/**
 * "Load more" whose answer arrives after the operator changed the filter: the answer belongs to the old filter and
 * must not be appended to the new filter's list (rows that do not match it), nor replace the new list's cursor (the
 * new filter's events past its first page become unreachable).
 */

jest.setTimeout(240_000);

let fixture: ConsoleFixture;
let baseUrl: string;

const providersListed = (page: Page) => page.locator('table.events-table tbody tr td:nth-child(4)').allTextContents();

describeBrowser('events list: a "Load more" answer that arrives after a filter change', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: 'adm_load_more_race_7c1e',
      stripeSecret: 'whsec_load_more_race',
      githubSecret: 'gh-load-more-race',
      routes: (sinkUrl) => ({
        destinations: { billing: { url: `${sinkUrl}/billing` }, ci: { url: `${sinkUrl}/ci` } },
        routes: [
          { provider: 'stripe', to: ['billing'] },
          { provider: 'github', to: ['ci'] },
        ],
      }),
      env: { RECONCILER_INTERVAL_MS: '600000', POD_DELETION_COST_ENABLED: 'false' },
    });
    baseUrl = fixture.baseUrl;
  }, 180_000);

  afterAll(() => fixture?.close());

  it('keeps the new filter\'s list to its own events and its own "Load more"', async () => {
    await sendMany(60, () => fixture.sendStripe('invoice.paid'));
    await sendMany(55, () => fixture.sendGithub());
    const page = await fixture.signedInPage();
    await page.goto(`${baseUrl}/console#/events?provider=stripe`);
    await waitFor('the stripe first page', async () => (await rows(page).count()) === 50, { timeoutMs: 30_000, intervalMs: 100 });
    await setLiveUpdates(page, false);

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
    // The late answer's whole body has arrived (a response event comes with its headers), then the page has parsed it
    // and rendered: what a fixed wait only hoped for on a loaded machine, where the check then ran before the late
    // answer could do its harm and passed whatever the console did with it.
    const stripeAnswered = page.waitForEvent('requestfinished', (request) => new URL(request.url()).searchParams.has('cursor'));
    release();
    await stripeAnswered;
    await afterRendering(page);

    const listed = await providersListed(page);
    const counts = listed.reduce<Record<string, number>>((acc, p) => ({ ...acc, [p]: (acc[p] ?? 0) + 1 }), {});
    // The github filter shows github events only, with "Load more" for its remaining 5.
    const loadMore = await page.getByRole('button', { name: 'Load more', exact: true }).count();
    expect({ counts, loadMore }).toEqual({ counts: { github: 50 }, loadMore: 1 });
  });
});
