import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page, Route } from 'playwright-core';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rows, setLiveUpdates } from './support/console-locators.js';

/**
 * README (Console): the console while the admin API fails (the browser answers the console's requests with 503, as an ingress whose
 * storage is down does, for as long as a test says): a failed load is tried again on its own, a first load too and
 * with live updates paused; while the failures go on each wait is longer than the one before (console/src/
 * retry-backoff.ts: 2 s doubled per failure, less up to a fifth, at most 30 s), and the view says when it tries
 * again; the first success puts the view right and the waits start over.
 *
 * A 429 or 503 with Retry-After is waited out at least that long (the admin API's 429 for an address past its
 * wrong-token budget says when its minute ends): found, the console tried again after its own 2 s and 4 s regardless.
 *
 * "Retry now" under the error tries at once: with a Retry-After of 10 minutes the data shows as soon as it is
 * pressed after the service is back, and the success starts the waits over.
 *
 * The waits are checked from below only: the next request comes no sooner than the wait the view chose, as a timer
 * never fires early; the machine being slow only makes the gaps longer.
 */

jest.setTimeout(180_000);

let fixture: ConsoleFixture;

/** How the requests a test fails are answered: 503 "Storage unavailable" unless it says otherwise. */
interface FailedAnswer {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

const STORAGE_UNAVAILABLE: FailedAnswer = { status: 503, message: 'Storage unavailable' };

/**
 * While `failing` is true, the requests `matches` picks are answered with `answer` (503 by default; the test may
 * change it), else they go through; `failed` and `passed` record when each was seen (before it is answered: a wait the page starts on the
 * answer starts later).
 */
async function failRequests(page: Page, matches: (url: URL) => boolean, answer: FailedAnswer = STORAGE_UNAVAILABLE) {
  const state = { failing: true, answer, failed: [] as number[], passed: [] as number[] };
  await page.route(matches, async (route: Route) => {
    if (!state.failing) {
      state.passed.push(Date.now());
      return route.continue();
    }
    state.failed.push(Date.now());
    const { status, message, headers } = state.answer;
    await route.fulfill({ status, contentType: 'application/json', headers, body: JSON.stringify({ statusCode: status, message }) });
  });
  return state;
}

/** A 503 whose Retry-After (10 min, the longest the console waits out) keeps the console's own retry far off. */
const LONG_RETRY_AFTER: FailedAnswer = { ...STORAGE_UNAVAILABLE, headers: { 'Retry-After': '600' } };

const isEventList = (url: URL) => url.pathname.endsWith('/admin/events');
const retryNowButton = (page: Page) => retryNote(page).getByRole('button', { name: 'Retry now' });
const retryNote = (page: Page) => page.locator('p.retry-note');
/** The wait the view chose after its last failure (the note's data-delay-ms), once the note shows. */
const shownDelay = async (page: Page) => Number(await retryNote(page).getAttribute('data-delay-ms'));
/** The time the note says it tries again, from its <time> (ms since the epoch). */
const shownRetryAt = async (page: Page) => Date.parse((await retryNote(page).locator('time').getAttribute('datetime')) ?? '');

describeBrowser('the console while the admin API fails', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: 'adm_retry_backoff_5d2c',
      stripeSecret: 'whsec_retry_backoff',
      env: { RECONCILER_INTERVAL_MS: '600000', POD_DELETION_COST_ENABLED: 'false' },
    });
    for (let i = 0; i < 3; i++) await fixture.sendStripe('invoice.paid');
  }, 180_000);

  afterAll(() => fixture?.close());

  it('a failed first page is tried again with live updates paused, and its rows then are the list, not new events', async () => {
    const page = await fixture.signedInPage();
    await setLiveUpdates(page, false);
    await page.getByText('paused', { exact: true }).waitFor();
    const api = await failRequests(page, (url) => isEventList(url) && url.searchParams.get('provider') === 'stripe');

    await page.goto(`${fixture.baseUrl}/console#/events?provider=stripe`);
    await page.getByRole('alert').filter({ hasText: 'Could not load events: Storage unavailable' }).waitFor();
    // Paused, yet tried again: nothing else would ever load this list.
    await waitFor('the first page asked for a second time', () => api.failed.length >= 2, { timeoutMs: 30_000 });
    await retryNote(page).getByText(/^Trying again at /).waitFor();

    api.failing = false;
    await waitFor('the three events listed', async () => (await rows(page).count()) === 3, { timeoutMs: 60_000, intervalMs: 100 });
    expect(await page.getByText('Could not load events').count()).toBe(0);
    expect(await retryNote(page).count()).toBe(0);
    // A first page: none of its rows is highlighted as a new arrival.
    expect(await page.locator('table.events-table tbody tr.row--new').count()).toBe(0);
    // Paused again once it loaded: no refresh follows.
    expect(api.passed).toHaveLength(1);
  });

  it('the live list waits longer after each failure, says when it tries again, and goes back to its interval after a success', async () => {
    const page = await fixture.signedInPage();
    await waitFor('the events listed', async () => (await rows(page).count()) === 3, { timeoutMs: 30_000, intervalMs: 100 });
    const api = await failRequests(page, isEventList);

    // Three refreshes fail in a row; after each the view says when it tries again.
    const delays: number[] = [];
    for (let n = 1; n <= 3; n++) {
      await waitFor(`failure ${n}`, () => api.failed.length >= n, { timeoutMs: 60_000 });
      const delay = await waitFor(`the wait after failure ${n} shown`, async () => {
        if (api.failed.length !== n || (await retryNote(page).count()) === 0) return undefined;
        const shown = await shownDelay(page);
        return shown !== delays.at(-1) ? shown : undefined;
      }, { timeoutMs: 30_000 });
      delays.push(delay);
      // The time shown is the failure's time plus the wait (the page and the test read the same clock).
      expect(await shownRetryAt(page)).toBeGreaterThanOrEqual(api.failed[n - 1]! + delay);
    }
    // 2 s, 4 s, 8 s, each less up to a fifth: longer each time, the third longer than the list's 4 s interval.
    expect(delays.map((delay, i) => delay >= 0.8 * 2000 * 2 ** i && delay <= 2000 * 2 ** i)).toEqual([true, true, true]);
    // The stored rows stay on screen under the error.
    expect(await rows(page).count()).toBe(3);
    // The requests were that far apart: the second came no sooner than the first wait after the first failure.
    expect(api.failed[1]! - api.failed[0]!).toBeGreaterThanOrEqual(delays[0]!);
    expect(api.failed[2]! - api.failed[1]!).toBeGreaterThanOrEqual(delays[1]!);

    // The service is back: the next try (no sooner than the third wait) succeeds and the error and note go.
    api.failing = false;
    await waitFor('the error gone', async () => (await page.getByText('Could not load events').count()) === 0, { timeoutMs: 60_000, intervalMs: 100 });
    expect(await retryNote(page).count()).toBe(0);
    expect(api.passed[0]! - api.failed[2]!).toBeGreaterThanOrEqual(delays[2]!);

    // The waits start over: the next failure is followed by the first wait again, not a longer one.
    api.failing = true;
    await waitFor('a failure after the success', () => api.failed.length === 4, { timeoutMs: 60_000 });
    await retryNote(page).waitFor();
    const again = await shownDelay(page);
    expect(again).toBeGreaterThanOrEqual(1600);
    expect(again).toBeLessThanOrEqual(2000);
    // Back at the list's interval after the success: the failing refresh came no sooner than 4 s after it.
    expect(api.failed[3]! - api.passed.at(-1)!).toBeGreaterThanOrEqual(4000);
    api.failing = false;
  });

  it('the overview, whose first load failed, says when it tries again, waits longer each time, and shows once the service answers', async () => {
    const page = await fixture.signedInPage();
    const api = await failRequests(page, (url) => url.pathname.endsWith('/admin/overview'));
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('alert').filter({ hasText: 'Could not load the overview: Storage unavailable' }).waitFor();
    await retryNote(page).getByText(/^Trying again at /).waitFor();
    const first = await shownDelay(page);
    await waitFor('the second try', () => api.failed.length >= 2, { timeoutMs: 60_000 });
    const second = await waitFor('the longer wait shown', async () => {
      const shown = await shownDelay(page);
      return shown !== first ? shown : undefined;
    }, { timeoutMs: 30_000 });
    expect(api.failed[1]! - api.failed[0]!).toBeGreaterThanOrEqual(first);
    expect({ first: first >= 1600 && first <= 2000, second: second >= 3200 && second <= 4000 }).toEqual({ first: true, second: true });

    api.failing = false;
    await page.locator('.tile', { hasText: 'Received' }).waitFor({ timeout: 60_000 });
    expect(await page.getByText('Could not load the overview').count()).toBe(0);
    expect(await retryNote(page).count()).toBe(0);
  });

  it("waits out a 429's Retry-After when it is longer than its own wait, and says so in the time it shows", async () => {
    const page = await fixture.signedInPage();
    await waitFor('the events listed', async () => (await rows(page).count()) === 3, { timeoutMs: 30_000, intervalMs: 100 });
    // As the admin API answers an address past its wrong-token budget (admin-auth.ts): 429, Retry-After in seconds.
    const RETRY_AFTER_S = 6;
    const api = await failRequests(page, isEventList, {
      status: 429,
      message: `Too many admin requests with a wrong token from this address; try again in ${RETRY_AFTER_S} s`,
      headers: { 'Retry-After': String(RETRY_AFTER_S) },
    });

    // Two refreshes refused in a row: the console's own waits (at most 2 s, then 4 s) are shorter than Retry-After.
    for (let n = 1; n <= 2; n++) {
      await waitFor(`refusal ${n}`, () => api.failed.length >= n, { timeoutMs: 60_000 });
      await waitFor(`the note after refusal ${n}`, async () => api.failed.length === n && (await retryNote(page).count()) === 1 && (await shownRetryAt(page)) > api.failed[n - 1]!, {
        timeoutMs: 30_000,
      });
      expect(await shownDelay(page)).toBe(RETRY_AFTER_S * 1000);
      const at = await shownRetryAt(page);
      expect(at).toBeGreaterThanOrEqual(api.failed[n - 1]! + RETRY_AFTER_S * 1000);
      // The note's text names that time, as the console formats times (the browser's locale and zone).
      const time = await page.evaluate(
        (ms) => new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(new Date(ms)),
        at,
      );
      expect(await retryNote(page).innerText()).toBe(`Trying again at ${time}. Retry now`);
    }
    // The second request came no sooner than Retry-After after the first was refused.
    expect(api.failed[1]! - api.failed[0]!).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000);

    api.failing = false;
    await waitFor('the error gone', async () => (await page.getByText('Could not load events').count()) === 0, { timeoutMs: 60_000, intervalMs: 100 });
    expect(api.passed[0]! - api.failed[1]!).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000);
  });

  it("the overview waits out a 503's Retry-After too", async () => {
    const page = await fixture.signedInPage();
    const RETRY_AFTER_S = 5;
    const api = await failRequests(page, (url) => url.pathname.endsWith('/admin/overview'), {
      status: 503,
      message: 'Storage unavailable',
      headers: { 'Retry-After': String(RETRY_AFTER_S) },
    });
    await page.getByRole('link', { name: 'Overview' }).click();
    await retryNote(page).getByText(/^Trying again at /).waitFor();
    expect(await shownDelay(page)).toBe(RETRY_AFTER_S * 1000);
    expect(await shownRetryAt(page)).toBeGreaterThanOrEqual(api.failed[0]! + RETRY_AFTER_S * 1000);
    await waitFor('the second try', () => api.failed.length >= 2, { timeoutMs: 60_000 });
    expect(api.failed[1]! - api.failed[0]!).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000);
    api.failing = false;
    await page.locator('.tile', { hasText: 'Received' }).waitFor({ timeout: 60_000 });
  });

  it('does not ask again for what the admin API refused as such: an event that does not exist (404) stays not found', async () => {
    const page = await fixture.signedInPage();
    const missing = '00000000-0000-4000-8000-00000000f404';
    const asked: number[] = [];
    await page.route((url) => url.pathname.endsWith(`/admin/events/${missing}`), (route: Route) => {
      asked.push(Date.now());
      return route.continue();
    });
    await page.goto(`${fixture.baseUrl}/console#/events/${missing}`);
    await page.getByRole('alert').filter({ hasText: `No event has the id ${missing}.` }).waitFor();
    expect(await retryNote(page).count()).toBe(0);
    // Nothing to poll for here: a retry would come within the first wait (at most 2 s); twice that passes unasked.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect(asked).toHaveLength(1);
    expect(await retryNote(page).count()).toBe(0);
  });

  it('"Retry now" loads a failed first page at once, long before its retry, and the next failure waits the first wait again', async () => {
    const page = await fixture.signedInPage();
    // A Retry-After of 10 minutes: the console's own retry would come only then.
    const api = await failRequests(page, (url) => isEventList(url) && url.searchParams.get('provider') === 'stripe', LONG_RETRY_AFTER);
    await page.goto(`${fixture.baseUrl}/console#/events?provider=stripe`);
    await page.getByRole('alert').filter({ hasText: 'Could not load events: Storage unavailable' }).waitFor();
    await retryNote(page).getByText(/^Trying again at /).waitFor();
    expect(await shownDelay(page)).toBe(600_000);

    // Still failing: the try "Retry now" makes fails too, and the view says so with a new time and the button again.
    const firstRetryAt = await shownRetryAt(page);
    await retryNowButton(page).click();
    await waitFor('the second failure shown', async () => api.failed.length === 2 && (await shownRetryAt(page)) > firstRetryAt, { timeoutMs: 30_000 });
    await retryNowButton(page).waitFor();

    // The service is back; the console would not look before retryAt. "Retry now" lists the events at once.
    api.failing = false;
    const retryAt = await shownRetryAt(page);
    await retryNowButton(page).click();
    await waitFor('the three events listed', async () => (await rows(page).count()) === 3, { timeoutMs: 60_000, intervalMs: 100 });
    expect(api.passed[0]!).toBeLessThan(retryAt);
    expect(await page.getByText('Could not load events').count()).toBe(0);
    expect(await retryNote(page).count()).toBe(0);
    // The button it pressed is gone: the focus went to the view, not to <body>.
    await waitFor('the focus on the view', () => page.evaluate('document.activeElement?.tagName').then((tag) => tag === 'MAIN'), { timeoutMs: 10_000 });

    // The waits started over with that success: a failed refresh (no Retry-After now) waits the first wait, not a
    // third one (6.4 s to 8 s).
    api.answer = STORAGE_UNAVAILABLE;
    api.failing = true;
    await waitFor('a failed refresh', () => api.failed.length === 3, { timeoutMs: 60_000 });
    await waitFor('its note', async () => (await retryNote(page).count()) === 1 && (await shownRetryAt(page)) > api.failed[2]!, { timeoutMs: 30_000 });
    expect(await shownDelay(page)).toBeGreaterThanOrEqual(1600);
    expect(await shownDelay(page)).toBeLessThanOrEqual(2000);
    api.failing = false;
    await waitFor('the error gone', async () => (await page.getByText('Could not load events').count()) === 0, { timeoutMs: 60_000, intervalMs: 100 });
  });

  it('"Retry now" loads a failed overview at once (a view polled by usePolled)', async () => {
    const page = await fixture.signedInPage();
    const api = await failRequests(page, (url) => url.pathname.endsWith('/admin/overview'), LONG_RETRY_AFTER);
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('alert').filter({ hasText: 'Could not load the overview: Storage unavailable' }).waitFor();
    await retryNote(page).getByText(/^Trying again at /).waitFor();
    const retryAt = await shownRetryAt(page);
    api.failing = false;
    await retryNowButton(page).click();
    await page.locator('.tile', { hasText: 'Received' }).waitFor({ timeout: 60_000 });
    expect(api.passed[0]!).toBeLessThan(retryAt);
    expect(await page.getByText('Could not load the overview').count()).toBe(0);
    expect(await retryNote(page).count()).toBe(0);
  });

  it('had no page error', () => {
    expect(fixture.pageErrors).toEqual([]);
  });
});
