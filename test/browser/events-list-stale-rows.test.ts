import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { sendMany, startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rows } from './support/console-locators.js';

/**
 * README (console): "New events and status changes appear on their own (the list refreshes every 4 s while the tab
 * is visible)". The events past the first page ("Load more") must show their status changes too: here 60 events wait
 * for a paused destination (Pending), the operator loads them all, resumes the destination, and every event completes.
 * And past the first 500, more than one request of the admin API reads ("a refresh reads every row the list shows,
 * 500 a request"): the oldest of 560 listed events becomes a dead letter, and its row says so.
 */

const TOKEN = 'adm_stale_rows_3f9a';

jest.setTimeout(240_000);

let fixture: ConsoleFixture;
let baseUrl: string;

describeBrowser('events list: status changes of the rows loaded with "Load more"', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: TOKEN,
      stripeSecret: 'whsec_stale_rows',
      githubSecret: 'gh-stale-rows',
      routes: (sinkUrl) => ({ destinations: { billing: { url: `${sinkUrl}/billing` } }, routes: [{ provider: 'stripe', to: ['billing'] }] }),
      env: { RECONCILER_INTERVAL_MS: '600000', POD_DELETION_COST_ENABLED: 'false' },
    });
    baseUrl = fixture.baseUrl;
  }, 180_000);

  afterAll(() => fixture?.close());

  it('updates the status of the rows past the first page', async () => {
    const paused = await adminRequest(baseUrl, TOKEN, 'POST', '/admin/destinations/billing/pause');
    expect(paused.status).toBe(200);
    await sendMany(60, () => fixture.sendStripe('invoice.paid'));
    await waitFor('60 stripe events waiting (PENDING)', async () => Number((await fixture.db.pool.query(`SELECT count(*) AS n FROM webhook_events WHERE provider = 'stripe' AND status = 'PENDING' AND last_error LIKE 'waiting:%'`)).rows[0].n) === 60, { timeoutMs: 60_000, intervalMs: 200 });

    const page = await fixture.signedInPage();
    await page.goto(`${baseUrl}/console#/events?provider=stripe`);
    await waitFor('the first page', async () => (await rows(page).count()) === 50, { timeoutMs: 30_000, intervalMs: 100 });
    await page.getByRole('button', { name: 'Load more', exact: true }).click();
    await waitFor('all 60 listed', async () => (await rows(page).count()) === 60, { timeoutMs: 30_000, intervalMs: 100 });

    const resumed = await adminRequest(baseUrl, TOKEN, 'POST', '/admin/destinations/billing/resume');
    expect(resumed.status).toBe(200);
    await waitFor('60 stripe events COMPLETED', async () => Number((await fixture.db.pool.query(`SELECT count(*) AS n FROM webhook_events WHERE provider = 'stripe' AND status = 'COMPLETED'`)).rows[0].n) === 60, { timeoutMs: 60_000, intervalMs: 200 });

    // Three live refreshes (4 s each) after every event completed.
    const statuses = async () => (await page.locator('table.events-table tbody tr td:nth-child(3)').allTextContents()).map((text) => text.trim());
    await waitFor('every row Completed', async () => (await statuses()).every((s) => s.startsWith('Completed')), { timeoutMs: 15_000, intervalMs: 250 }).catch(() => undefined);
    const shown = await statuses();
    const notCompleted = shown.map((s, index) => ({ row: index + 1, s })).filter(({ s }) => !s.startsWith('Completed'));
    expect({ rows: shown.length, notCompleted }).toEqual({ rows: 60, notCompleted: [] });
  });

  it('updates the status of a row past the first 500', async () => {
    // GitHub pushes match no route: each is COMPLETED, delivered nowhere.
    await sendMany(560, () => fixture.sendGithub());
    await waitFor('560 github events COMPLETED', async () => Number((await fixture.db.pool.query(`SELECT count(*) AS n FROM webhook_events WHERE provider = 'github' AND status = 'COMPLETED'`)).rows[0].n) === 560, { timeoutMs: 120_000, intervalMs: 200 });

    const page = await fixture.signedInPage();
    await page.goto(`${baseUrl}/console#/events?provider=github`);
    await waitFor('the first page', async () => (await rows(page).count()) === 50, { timeoutMs: 30_000, intervalMs: 100 });
    for (let listed = 100; listed < 610; listed += 50) {
      await page.getByRole('button', { name: 'Load more', exact: true }).click();
      await waitFor(`${Math.min(listed, 560)} listed`, async () => (await rows(page).count()) === Math.min(listed, 560), { timeoutMs: 30_000, intervalMs: 100 });
    }
    await waitFor('nothing more to load', async () => (await page.getByRole('button', { name: 'Load more', exact: true }).count()) === 0, { timeoutMs: 30_000 });

    // The list's last row, the 560th: a refresh of one request (500 rows at most) never reads it again.
    const oldest = (await fixture.db.pool.query<{ id: string }>(`SELECT id FROM webhook_events WHERE provider = 'github' ORDER BY received_at ASC, id ASC LIMIT 1`)).rows[0]!.id;
    const row = page.locator(`table.events-table tbody tr:has(a[href$="/events/${oldest}"])`);
    expect(await rows(page).last().locator('a').getAttribute('href')).toMatch(new RegExp(`/events/${oldest}$`));
    await row.getByText('Completed').waitFor();
    await fixture.db.pool.query(`UPDATE webhook_events SET status = 'DEAD_LETTER', last_error = 'dead-lettered by the test' WHERE id = $1`, [oldest]);
    await row.getByText('Dead letter').waitFor({ timeout: 30_000 });
    expect(await rows(page).count()).toBe(560);
  });
});
