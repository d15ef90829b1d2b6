import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page } from 'playwright-core';
import { adminRequest } from '../support/admin-client.js';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { sendMany, startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rowFor, rows } from './support/console-locators.js';

/**
 * The events list's live refresh and "Replay selected" in a real browser against a real service (SERVICE_ROLE=all):
 * after more than a page of new events every event stays reachable, an event in the same millisecond as the fresh
 * page's last one is not dropped, and the dialog replays only what it offered. Each test works on its own provider
 * (stripe invoices, github pushes, stripe charges), so the filter it uses lists only its own events.
 */

const TOKEN = 'adm_events_refresh_4b9d2f';
const PAGE_SIZE = 50;

// A browser, the service and the test share two busy cores: a step that takes 20 s under load must not fail.
jest.setTimeout(180_000);

let fixture: ConsoleFixture;
let baseUrl: string;

const waitForAllCompleted = (provider: string, n: number) =>
  waitFor(
    `${n} ${provider} events COMPLETED`,
    async () => Number((await fixture.db.pool.query(`SELECT count(*) AS n FROM webhook_events WHERE provider = $1 AND status = 'COMPLETED'`, [provider])).rows[0].n) === n,
    { timeoutMs: 60_000, intervalMs: 200 },
  );

/** Signs in, then opens the events list filtered by `provider`. */
async function openEvents(page: Page, provider: string) {
  await fixture.signIn(page);
  await page.goto(`${fixture.baseUrl}/console#/events?provider=${provider}`);
  await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
}

const loadMoreButton = (page: Page) => page.getByRole('button', { name: 'Load more', exact: true });
const liveCheckbox = (page: Page) => page.getByRole('checkbox', { name: 'Live updates' });
/** The event ids the list shows, in order (from each row's link). */
const listedIds = (page: Page) =>
  page.locator('table.events-table tbody tr a').evaluateAll((links) => links.map((link) => (link.getAttribute('href') ?? '').replace(/^.*#\/events\//, '')));

async function waitForRowCount(page: Page, n: number, what: string) {
  await waitFor(`${what}: ${n} rows`, async () => (await rows(page).count()) === n, { timeoutMs: 30_000, intervalMs: 100 });
}

/** Clicks "Load more" until it is gone; returns the ids then listed. */
async function loadToTheEnd(page: Page): Promise<string[]> {
  for (let i = 0; i < 20; i++) {
    if ((await loadMoreButton(page).count()) === 0) {
      // "Loading…" is the same button, busy: it is not the end.
      if ((await page.getByRole('button', { name: 'Loading…' }).count()) === 0) return listedIds(page);
      await waitFor('the page loaded', async () => (await page.getByRole('button', { name: 'Loading…' }).count()) === 0, { timeoutMs: 30_000 });
      continue;
    }
    const before = await rows(page).count();
    await loadMoreButton(page).click();
    await waitFor('more rows after Load more', async () => (await rows(page).count()) > before, { timeoutMs: 30_000, intervalMs: 100 });
    await waitFor('Load more idle', async () => (await page.getByRole('button', { name: 'Loading…' }).count()) === 0, { timeoutMs: 30_000 });
  }
  throw new Error('Load more never went away');
}

/** Resolves once the list has asked for a fresh first page `times` times (a live refresh; not a "Load more"). */
function freshPageRequests(page: Page, provider: string, times: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onRequest = (request: { url(): string }) => {
      const url = new URL(request.url());
      if (url.pathname.endsWith('/admin/events') && url.searchParams.get('provider') === provider && !url.searchParams.has('cursor') && ++seen >= times) {
        page.off('request', onRequest);
        resolve();
      }
    };
    page.on('request', onRequest);
  });
}

describeBrowser('events list: live refresh and replay of selected events in a browser', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: TOKEN,
      stripeSecret: 'whsec_events_refresh_stripe',
      githubSecret: 'gh-events-refresh',
      routes: (sinkUrl) => ({
        destinations: { billing: { url: `${sinkUrl}/billing` }, crm: { url: `${sinkUrl}/crm` }, ci: { url: `${sinkUrl}/ci` } },
        routes: [
          { provider: 'stripe', events: ['invoice.*'], to: ['billing'] },
          { provider: 'stripe', events: ['charge.*'], to: ['crm'] },
          { provider: 'github', to: ['ci'] },
        ],
      }),
      env: { RECONCILER_INTERVAL_MS: '600000', POD_DELETION_COST_ENABLED: 'false' },
    });
    baseUrl = fixture.baseUrl;
  }, 180_000);

  afterAll(() => fixture?.close());

  it('after more than a page of new events arrived while paused, a live refresh leaves every event reachable', async () => {
    const older = await sendMany(60, () => fixture.sendStripe('invoice.paid'));
    await waitForAllCompleted('stripe', 60);
    const page = await fixture.newPage();
    await openEvents(page, 'stripe');
    await waitForRowCount(page, PAGE_SIZE, 'the first page');
    await loadMoreButton(page).click();
    await waitForRowCount(page, 60, 'after Load more');
    await waitFor('no more to load', async () => (await loadMoreButton(page).count()) === 0);

    // Unticking reloads the first page once: let that finish before the new events arrive.
    const pausedLoad = page.waitForResponse((response) => new URL(response.url()).pathname.endsWith('/admin/events') && !new URL(response.url()).searchParams.has('cursor'));
    await liveCheckbox(page).uncheck();
    await pausedLoad;
    await page.getByText('paused', { exact: true }).waitFor();
    const newer = await sendMany(60, () => fixture.sendStripe('invoice.paid'));
    await waitForAllCompleted('stripe', 120);
    const refreshed = freshPageRequests(page, 'stripe', 1);
    await liveCheckbox(page).check();
    await refreshed;
    // The refresh put the newest event on top.
    const newest = (await fixture.db.pool.query(`SELECT id FROM webhook_events WHERE provider = 'stripe' ORDER BY received_at DESC, id DESC LIMIT 1`)).rows[0].id;
    expect(newer.map((event) => event.id)).toContain(newest);
    await waitFor('the newest event listed first', async () => (await listedIds(page))[0] === newest, { timeoutMs: 30_000, intervalMs: 100 });

    const ids = await loadToTheEnd(page);
    const expected = [...older, ...newer].map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(expected.filter((id) => !ids.includes(id))).toEqual([]);
    expect(ids.length).toBe(120);
  });

  it('a live refresh keeps the event in the same millisecond as the fresh page’s last one (the server orders by the microsecond)', async () => {
    await sendMany(60, () => fixture.sendGithub());
    await waitForAllCompleted('github', 60);
    // Received one second apart, newest first; list positions 50 and 51 share the millisecond .950: position 50 at
    // .950500 with the smaller id, position 51 at .950100 with the greater id. The server lists 50 before 51 (the
    // microsecond decides); a client comparing (millisecond, id) takes 51 for newer than 50, i.e. within the fresh page.
    const { rows: events } = await fixture.db.pool.query<{ id: string }>(`SELECT id FROM webhook_events WHERE provider = 'github' ORDER BY received_at DESC, id DESC`);
    expect(events).toHaveLength(60);
    const [smaller, greater] = [events[49]!.id, events[50]!.id].sort();
    const order = events.map((event) => event.id).filter((id) => id !== smaller && id !== greater);
    order.splice(49, 0, smaller!, greater!);
    const base = (await fixture.db.pool.query<{ base: string }>(`SELECT to_char(date_trunc('second', now() AT TIME ZONE 'UTC') - interval '2 minutes', 'YYYY-MM-DD"T"HH24:MI:SS') AS base`)).rows[0]!.base;
    const second = (i: number) => new Date(Date.parse(`${base}Z`) - i * 1000).toISOString().slice(0, 19);
    const receivedAt = order.map((_, i) => (i === 49 ? `${second(49)}.950500Z` : i === 50 ? `${second(49)}.950100Z` : `${second(i)}.000000Z`));
    await fixture.db.pool.query(`UPDATE webhook_events e SET received_at = v.at::timestamptz FROM unnest($1::uuid[], $2::text[]) AS v(id, at) WHERE e.id = v.id`, [order, receivedAt]);
    const listed = (await adminRequest(baseUrl, TOKEN, 'GET', `/admin/events?provider=github&limit=${PAGE_SIZE}`)).json;
    expect(listed.items.at(-1).id).toBe(smaller);
    const next = (await adminRequest(baseUrl, TOKEN, 'GET', `/admin/events?provider=github&limit=${PAGE_SIZE}&cursor=${listed.nextCursor}`)).json;
    expect(next.items[0].id).toBe(greater);
    expect(next.items[0].receivedAt).toBe(listed.items.at(-1).receivedAt); // the same millisecond for the console

    const page = await fixture.newPage();
    await openEvents(page, 'github');
    await waitForRowCount(page, PAGE_SIZE, 'the first page');
    await loadMoreButton(page).click();
    await waitForRowCount(page, 60, 'after Load more');
    expect(await listedIds(page)).toContain(greater);
    // Two fresh-page requests: the first refresh after Load more has been merged once the next one is asked for.
    await freshPageRequests(page, 'github', 2);
    const ids = await loadToTheEnd(page);
    expect(ids).toContain(greater);
    expect(new Set(ids)).toEqual(new Set(order));
  });

  it('"Replay selected" sends only the events the dialog offered: one in progress when it opened is not replayed after it finished', async () => {
    expect((await adminRequest(baseUrl, TOKEN, 'POST', '/admin/destinations/crm/pause')).status).toBe(200);
    const waiting = await fixture.sendStripe('charge.succeeded'); // to crm, paused: it waits, PENDING
    const done = await fixture.sendStripe('invoice.paid'); // to billing: COMPLETED
    await fixture.waitForStatus(done.id, 'COMPLETED');
    await waitFor('the charge waiting for crm', async () => (await fixture.db.pool.query('SELECT last_error FROM webhook_events WHERE id = $1', [waiting.id])).rows[0]?.last_error === 'waiting: crm paused', {
      timeoutMs: 30_000,
    });
    expect(await fixture.statusOf(waiting.id)).toBe('PENDING');

    const page = await fixture.newPage();
    const bodies: unknown[] = [];
    await page.route('**/admin/events/replay', async (route) => {
      bodies.push(route.request().postDataJSON());
      await route.continue();
    });
    await openEvents(page, 'stripe');
    await rowFor(page, waiting.externalId).getByText('Pending').waitFor();
    await rowFor(page, done.externalId).getByText('Completed').waitFor();
    // Live updates stay on: the list refreshes under the open dialog, which keeps what it showed when it opened.
    await rowFor(page, waiting.externalId).getByRole('checkbox').check();
    await rowFor(page, done.externalId).getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Replay selected (2)' }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay 2 selected events?' });
    await dialog.getByText('1 selected event is still in progress and will be skipped.').waitFor();

    // It finishes while the dialog is open, and the live list shows it completed behind the dialog.
    expect((await adminRequest(baseUrl, TOKEN, 'POST', '/admin/destinations/crm/resume')).status).toBe(200);
    await fixture.waitForStatus(waiting.id, 'COMPLETED');
    await rowFor(page, waiting.externalId).getByText('Completed').waitFor({ timeout: 30_000 });
    await dialog.getByText('1 selected event is still in progress and will be skipped.').waitFor();
    await dialog.getByRole('button', { name: 'Replay 1' }).click();

    await waitFor('the replay request', () => bodies.length === 1, { timeoutMs: 30_000 });
    expect(bodies[0]).toEqual({ ids: [done.id], replays: { [done.id]: 0 } });
    await page.locator('p.notice', { hasText: 'Replay started for 1 event; 1 skipped (still in progress).' }).waitFor();
    await waitFor('the completed event replayed', async () => (await fixture.db.pool.query('SELECT replays FROM webhook_events WHERE id = $1', [done.id])).rows[0].replays === 1);
    expect((await fixture.db.pool.query('SELECT replays FROM webhook_events WHERE id = $1', [waiting.id])).rows[0].replays).toBe(0);
  });

  it('had no page error', () => {
    expect(fixture.pageErrors).toEqual([]);
  });
});
