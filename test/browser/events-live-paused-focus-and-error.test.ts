import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page, Route } from 'playwright-core';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { notice, rows, setLiveUpdates } from './support/console-locators.js';

/**
 * The events list's live mode pauses past 1,000 rows loaded and offers "Show the newest 500" (README, Console;
 * events-live-row-limit.test.ts). Two things around that pause:
 *
 * - The button removes itself when the newest rows come: the focus, on it for a keyboard user, went to <body> (Tab
 *   starting over from the top of the page). It goes to the events table instead, which says what it is (its caption).
 * - A refresh that failed before the list paused left its error and "Trying again at …" on screen while paused, though
 *   no refresh was to come: the time passed and nothing happened, and "Retry now" stuck at "Retrying…". Paused, the
 *   list's failed refresh is no longer shown; a failed "Show the newest" is (the note and its button stay), and its
 *   success clears it.
 *
 * The list's failures are the browser's: its refreshes (GET /admin/events without a cursor) answered 503 by route
 * interception, as console-retry-backoff.test.ts does; "Load more" (with a cursor) and the service stay real.
 */

const TOKEN = 'adm_live_paused_focus_7c41';

jest.setTimeout(300_000);

let fixture: ConsoleFixture;

const insertEvents = (n: number) =>
  fixture.db.pool.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, received_at, updated_at)
     SELECT 'stripe', 'evt_paused_' || g, 'invoice.paid', '{}', '\\x7b7d', 'application/json', 'COMPLETED',
            now() - g * interval '1 second', now()
       FROM generate_series(1, $1::int) g`,
    [n],
  );

const showing = (page: Page, n: number) => page.getByText(`Showing ${n.toLocaleString('en-US')} events`, { exact: true });

const pausedNote = (page: Page) => notice(page, 'Live updates paused while more than 1,000 rows are loaded');
const showNewest = (page: Page) => pausedNote(page).getByRole('button', { name: 'Show the newest 500 (live again)' });
const listError = (page: Page) => page.getByRole('alert').filter({ hasText: 'Could not load events' });
const retryNote = (page: Page) => page.locator('.retry-note');

/** The focused element, described. */
const focused = (page: Page) =>
  page.evaluate<{ tag: string; text: string }>(`(() => { const e = document.activeElement; return { tag: e?.tagName ?? '', text: (e?.textContent ?? '').trim().slice(0, 60) }; })()`);

/**
 * Where the focus is once it has left <body> (the page moves it off there a moment after the note goes), or <body>
 * if it does not within the deadline: the caller's expectation then says what was found.
 */
async function settledFocus(page: Page) {
  await waitFor('the focus off <body>', async () => (await focused(page)).tag !== 'BODY', { timeoutMs: 10_000 }).catch(() => undefined);
  return focused(page);
}

/** How many times the page asked for the counts above the list: they go on refreshing while the list is paused. */
function countCounts(page: Page) {
  const seen = { counts: 0 };
  page.on('request', (request) => {
    if (request.method() === 'GET' && new URL(request.url()).pathname.endsWith('/admin/events/counts')) seen.counts += 1;
  });
  return seen;
}

/**
 * While `state.failing`, the list's refreshes and first pages (no cursor) are answered 503, with Retry-After: 600 (10
 * minutes, the longest the console waits out) while `state.longRetry`; "Load more" goes through.
 */
async function failListRefreshes(page: Page) {
  const state = { failing: false, longRetry: false, failed: 0 };
  await page.route(
    (url) => url.pathname.endsWith('/admin/events') && !url.searchParams.has('cursor'),
    async (route: Route) => {
      if (!state.failing) return route.continue();
      state.failed += 1;
      await route.fulfill({
        status: 503,
        contentType: 'application/json',
        headers: state.longRetry ? { 'Retry-After': '600' } : undefined,
        body: JSON.stringify({ statusCode: 503, message: 'Storage unavailable' }),
      });
    },
  );
  return state;
}

/** "Load more" from 50 rows until `until` are shown. */
async function loadUntil(page: Page, until: number) {
  for (let shown = 100; shown <= until; shown += 50) {
    await page.getByRole('button', { name: 'Load more', exact: true }).click();
    await showing(page, shown).waitFor({ timeout: 30_000 });
  }
}

describeBrowser('events list paused past 1,000 rows: the focus after "Show the newest", and a failed refresh', () => {
  beforeAll(async () => {
    // Ingress only: nothing changes the seeded events but the test.
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', env: { SERVICE_ROLE: 'ingress' } });
    await insertEvents(1100);
  }, 180_000);

  afterAll(() => fixture?.close());

  it('puts the focus on the events table when "Show the newest 500", pressed from the keyboard, removes itself', async () => {
    const page = await fixture.newPage({ locale: 'en-US' });
    await fixture.signIn(page);
    await showing(page, 50).waitFor();
    await loadUntil(page, 1050);
    await pausedNote(page).waitFor({ timeout: 30_000 });

    await showNewest(page).focus();
    await page.keyboard.press('Enter');
    await showing(page, 500).waitFor({ timeout: 30_000 });
    expect(await pausedNote(page).count()).toBe(0);
    // Not <body>: the events table, whose caption names it; Tab goes on from there to its rows.
    expect(await settledFocus(page)).toMatchObject({ tag: 'TABLE', text: expect.stringMatching(/^Events, newest first/) });
    await page.keyboard.press('Tab');
    expect(await page.evaluate(`document.activeElement?.getAttribute('aria-label')`)).toBe('Select all shown events');
    expect(fixture.pageErrors).toEqual([]);
    await page.close();
  });

  it('drops a failed refresh\'s error once the list pauses; a failed "Show the newest" shows its own, gone when it succeeds', async () => {
    const page = await fixture.newPage({ locale: 'en-US' });
    const state = await failListRefreshes(page);
    const seen = countCounts(page);
    await fixture.signIn(page);
    await showing(page, 50).waitFor();
    await loadUntil(page, 1000);

    // At 1,000 rows the list is still live: its next refresh fails, and says so with its retry (10 minutes off: while
    // it is shown, nothing else takes it away).
    state.failing = true;
    state.longRetry = true;
    await listError(page).waitFor({ timeout: 30_000 });
    expect(await retryNote(page).count()).toBe(1);

    // Past the limit the list pauses: no refresh is to come, so neither is the failed one's retry; its error goes.
    await page.getByRole('button', { name: 'Load more', exact: true }).click();
    await showing(page, 1050).waitFor({ timeout: 30_000 });
    await pausedNote(page).waitFor({ timeout: 30_000 });
    expect(await listError(page).count()).toBe(0);
    expect(await retryNote(page).count()).toBe(0);
    // Paused, the list asks for nothing: counts refreshes, 4 s apart, are the clock.
    const failedAtPause = state.failed;
    const countsAtPause = seen.counts;
    await waitFor('two counts refreshes', () => seen.counts >= countsAtPause + 2, { timeoutMs: 60_000, intervalMs: 100 });
    expect(state.failed).toBe(failedAtPause);
    expect(await listError(page).count()).toBe(0);

    // "Show the newest 500" while the service still fails (its retries a few seconds apart): that load's error shows,
    // the note and its button stay.
    state.longRetry = false;
    await showNewest(page).focus();
    await page.keyboard.press('Enter');
    await listError(page).waitFor({ timeout: 30_000 });
    expect(await retryNote(page).count()).toBe(1);
    expect(await pausedNote(page).count()).toBe(1);
    expect(await rows(page).count()).toBe(1050);
    expect(await focused(page)).toMatchObject({ tag: 'BUTTON', text: 'Show the newest 500 (live again)' });

    // The service back, the retry of that load brings the newest rows: the error goes with the note, and the focus
    // (on the button the note took away) goes to the table.
    state.failing = false;
    await showing(page, 500).waitFor({ timeout: 60_000 });
    expect(await listError(page).count()).toBe(0);
    expect(await retryNote(page).count()).toBe(0);
    expect(await pausedNote(page).count()).toBe(0);
    expect(await settledFocus(page)).toMatchObject({ tag: 'TABLE', text: expect.stringMatching(/^Events, newest first/) });
    expect(fixture.pageErrors).toEqual([]);
    await page.close();
  });

  it('shows no error for a refresh under way when "Load more" paused the list and failed after, nor one left when live updates go off', async () => {
    const page = await fixture.newPage({ locale: 'en-US' });
    const seen = countCounts(page);
    // The list's refreshes are held until the test answers them 503; "Load more" (with a cursor) goes through.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const held = { holding: false, seen: 0, answered: 0 };
    await page.route(
      (url) => url.pathname.endsWith('/admin/events') && !url.searchParams.has('cursor'),
      async (route: Route) => {
        if (!held.holding) return route.continue();
        held.seen += 1;
        await released;
        // Retry-After: 10 minutes, the longest the console waits out: shown, the error would stay all the test long
        // (its retry, which finds the list paused, far off).
        await route.fulfill({
          status: 503,
          contentType: 'application/json',
          headers: { 'Retry-After': '600' },
          body: JSON.stringify({ statusCode: 503, message: 'Storage unavailable' }),
        });
        held.answered += 1;
      },
    );
    await fixture.signIn(page);
    await showing(page, 50).waitFor();
    await loadUntil(page, 1000);

    held.holding = true;
    await waitFor('a refresh held', () => held.seen > 0, { timeoutMs: 30_000, intervalMs: 100 });
    await page.getByRole('button', { name: 'Load more', exact: true }).click();
    await showing(page, 1050).waitFor({ timeout: 30_000 });
    await pausedNote(page).waitFor({ timeout: 30_000 });
    release();
    await waitFor('the held refresh answered', () => held.answered > 0, { timeoutMs: 30_000, intervalMs: 100 });
    // The page has long dealt with the answer after two counts refreshes (4 s apart).
    const countsAtAnswer = seen.counts;
    await waitFor('two counts refreshes', () => seen.counts >= countsAtAnswer + 2, { timeoutMs: 60_000, intervalMs: 100 });
    expect(await listError(page).count()).toBe(0);
    expect(await retryNote(page).count()).toBe(0);
    expect(await pausedNote(page).count()).toBe(1);
    expect(await rows(page).count()).toBe(1050);
    expect(held.seen).toBe(1);

    // "Show the newest 500" fails too (its retry 10 minutes off): its error shows. Live updates turned off then end
    // that load and its retry, and the list, past the limit, asks for nothing: the error goes with them.
    await showNewest(page).click();
    await listError(page).waitFor({ timeout: 30_000 });
    expect(held.seen).toBe(2);
    await setLiveUpdates(page, false);
    await waitFor('the error gone', async () => (await listError(page).count()) === 0 && (await retryNote(page).count()) === 0, { timeoutMs: 30_000 });
    expect(await rows(page).count()).toBe(1050);
    expect(held.seen).toBe(2);
    expect(fixture.pageErrors).toEqual([]);
    await page.close();
  });
});
