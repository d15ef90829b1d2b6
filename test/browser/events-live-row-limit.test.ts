import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page } from 'playwright-core';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { notice, rowFor, rows } from './support/console-locators.js';

/**
 * A live refresh reads every row the events list shows (500 a request) and puts them all into the table: measured at
 * ~120 ms a refresh at 1,500 rows, single freezes of 461 ms at 2,500, every 4 s, and each "Load more" ~2.2 s there.
 * Past 1,000 rows loaded, the list's live refresh pauses itself and says so, with a button back to the newest 500,
 * live again (README, Console). The counts above the list go on refreshing: here they are the test's clock, as their
 * requests show that refreshes were due while the list asked for nothing.
 */

const TOKEN = 'adm_live_row_limit_5d02';

jest.setTimeout(300_000);

let fixture: ConsoleFixture;

/** Inserts `n` completed stripe events, received one second apart, the newest a second ago. */
const insertEvents = (n: number) =>
  fixture.db.pool.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, received_at, updated_at)
     SELECT 'stripe', 'evt_row_limit_' || g, 'invoice.paid', '{}', '\\x7b7d', 'application/json', 'COMPLETED',
            now() - g * interval '1 second', now()
       FROM generate_series(1, $1::int) g`,
    [n],
  );

/** The list's and the counts' GET requests, as the page sends them. */
function countRequests(page: Page) {
  const seen = { list: 0, counts: 0 };
  page.on('request', (request) => {
    if (request.method() !== 'GET') return;
    const path = new URL(request.url()).pathname;
    if (path.endsWith('/admin/events')) seen.list += 1;
    else if (path.endsWith('/admin/events/counts')) seen.counts += 1;
  });
  return seen;
}

const showing = (page: Page, n: number) => page.getByText(`Showing ${n.toLocaleString('en-US')} events`, { exact: true });

describeBrowser('events list: live updates pause past 1,000 rows loaded', () => {
  beforeAll(async () => {
    // Ingress only: nothing changes the seeded events but the test.
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', env: { SERVICE_ROLE: 'ingress' } });
    await insertEvents(1100);
  }, 180_000);

  afterAll(() => fixture?.close());

  it('stops refreshing past the limit, says so, and goes back to the newest 500, live again', async () => {
    const page = await fixture.newPage({ locale: 'en-US' });
    const requests = countRequests(page);
    await fixture.signIn(page);
    await showing(page, 50).waitFor();
    const note = notice(page, 'Live updates paused while more than 1,000 rows are loaded');

    // Up to the limit the list stays live.
    for (let shown = 100; shown <= 1000; shown += 50) {
      await page.getByRole('button', { name: 'Load more', exact: true }).click();
      await showing(page, shown).waitFor({ timeout: 30_000 });
    }
    expect(await note.count()).toBe(0);
    const atLimit = requests.list;
    await waitFor('a refresh at 1,000 rows', () => requests.list > atLimit, { timeoutMs: 30_000, intervalMs: 100 });

    await page.getByRole('button', { name: 'Load more', exact: true }).click();
    await showing(page, 1050).waitFor({ timeout: 30_000 });
    await note.waitFor({ timeout: 30_000 });
    expect(await page.locator('.live').textContent()).toContain('paused');

    // A refresh already under way when the list crossed the limit may still be reading (its chunks one after the
    // other): two counts refreshes (4 s apart) let it end. Then three more, and not one request for the list.
    const countsAtNote = requests.counts;
    await waitFor('two counts refreshes', () => requests.counts >= countsAtNote + 2, { timeoutMs: 60_000, intervalMs: 100 });
    const listWhilePaused = requests.list;
    const countsWhilePaused = requests.counts;
    await waitFor('three more counts refreshes', () => requests.counts >= countsWhilePaused + 3, { timeoutMs: 60_000, intervalMs: 100 });
    expect(requests.list - listWhilePaused).toBe(0);
    expect(await rows(page).count()).toBe(1050);

    // Back to the newest 500: the note goes, and the list is live again (a new event comes on top, a status change
    // of a row far down shows).
    await note.getByRole('button', { name: 'Show the newest 500 (live again)' }).click();
    await showing(page, 500).waitFor({ timeout: 30_000 });
    expect(await note.count()).toBe(0);
    await fixture.db.pool.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, received_at, updated_at)
       VALUES ('stripe', 'evt_row_limit_live_again', 'invoice.created', '{}', '\\x7b7d', 'application/json', 'PENDING', now(), now())`,
    );
    const newRow = rowFor(page, 'evt_row_limit_live_again');
    await newRow.waitFor({ timeout: 30_000 });
    expect(await rows(page).first().textContent()).toContain('evt_row_limit_live_again');
    await fixture.db.pool.query(`UPDATE webhook_events SET status = 'DEAD_LETTER', last_error = 'dead-lettered by the test' WHERE external_id = 'evt_row_limit_400'`);
    await rowFor(page, 'evt_row_limit_400').getByText('Dead letter').waitFor({ timeout: 30_000 });
    // Rows render again only when they change, but their relative time still moves: the new row's "just now" turns
    // into seconds with a later refresh.
    await newRow.getByText(/^\d+ s ago$/).waitFor({ timeout: 30_000 });
    expect(await rows(page).count()).toBe(500);
    expect(fixture.pageErrors).toEqual([]);
    await page.close();
  });
});
