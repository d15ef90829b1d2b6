import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { sendMany, startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rows } from './support/console-locators.js';

/**
 * A live refresh reads every row the events list shows (500 a request). New events go on top of the list: had they
 * been added to it for good, the list, and with it every refresh, would grow by every event that arrives while a
 * console is open (a console left open for a day on a busy service: hundreds of thousands of rows, re-read every 4 s,
 * hundreds of requests a refresh, from every open console). The list keeps the number of rows the operator loaded:
 * new events push the oldest off its end, and "Load more" brings them back from the refresh's own cursor.
 */

const TOKEN = 'adm_live_bounded_7c21';

jest.setTimeout(240_000);

let fixture: ConsoleFixture;

const githubCount = async () => Number((await fixture.db.pool.query(`SELECT count(*) AS n FROM webhook_events WHERE provider = 'github'`)).rows[0].n);

describeBrowser('events list: live refreshes keep the rows the operator loaded', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: TOKEN,
      stripeSecret: 'whsec_live_bounded',
      githubSecret: 'gh-live-bounded',
      routes: (sinkUrl) => ({ destinations: { billing: { url: `${sinkUrl}/billing` } }, routes: [{ provider: 'stripe', to: ['billing'] }] }),
      env: { RECONCILER_INTERVAL_MS: '600000', POD_DELETION_COST_ENABLED: 'false' },
    });
  }, 180_000);

  afterAll(() => fixture?.close());

  it('new events push the oldest rows off the end instead of growing the list', async () => {
    await sendMany(100, () => fixture.sendGithub());
    await waitFor('100 github events stored', async () => (await githubCount()) === 100, { timeoutMs: 60_000, intervalMs: 200 });

    const page = await fixture.signedInPage();
    await page.goto(`${fixture.baseUrl}/console#/events?provider=github`);
    await waitFor('the first page', async () => (await rows(page).count()) === 50, { timeoutMs: 30_000, intervalMs: 100 });

    for (let round = 1; round <= 2; round++) {
      await sendMany(30, () => fixture.sendGithub());
      await waitFor(`${100 + 30 * round} github events stored`, async () => (await githubCount()) === 100 + 30 * round, { timeoutMs: 60_000, intervalMs: 200 });
      const newest = (await fixture.db.pool.query<{ id: string }>(`SELECT id FROM webhook_events WHERE provider = 'github' ORDER BY received_at DESC, id DESC LIMIT 1`)).rows[0]!.id;
      await page.locator(`table.events-table tbody tr:has(a[href$="/events/${newest}"])`).waitFor({ timeout: 30_000 });
      expect(await rows(page).count()).toBe(50);
    }
    // The rows pushed off are one "Load more" away, from where the list ends now.
    await page.getByRole('button', { name: 'Load more', exact: true }).click();
    await waitFor('100 listed', async () => (await rows(page).count()) === 100, { timeoutMs: 30_000, intervalMs: 100 });
    const hrefs = await page.locator('table.events-table tbody tr a[href*="/events/"]').evaluateAll((links) => links.map((link) => link.getAttribute('href')));
    const expected = (await fixture.db.pool.query<{ id: string }>(`SELECT id FROM webhook_events WHERE provider = 'github' ORDER BY received_at DESC, id DESC LIMIT 100`)).rows.map((r) => r.id);
    expect(hrefs.map((href) => href!.split('/events/')[1])).toEqual(expected);
  });
});
