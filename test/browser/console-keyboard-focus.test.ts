import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page } from 'playwright-core';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { waitFor } from '../support/wait-for.js';
import { afterRendering } from './support/after-rendering.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rowFor, rows } from './support/console-locators.js';

/**
 * Keyboard-only and screen-reader use of the console's main flows, in a real browser against a real service
 * (SERVICE_ROLE=all, PostgreSQL, Redis, a local destination): where the focus is after an action the keyboard
 * started, and what the page's live regions say.
 */

const TOKEN = 'adm_console_focus_5e2a91';

jest.setTimeout(120_000);

let fixture: ConsoleFixture;
let baseUrl: string;

/** The focused element, described: tag, id, accessible-ish text. */
const focused = (page: Page) =>
  page.evaluate<{ tag: string; id: string; text: string }>(
    `(() => { const e = document.activeElement; return { tag: e?.tagName ?? '', id: e?.id ?? '', text: (e?.textContent ?? '').trim().slice(0, 60) }; })()`,
  );

describeBrowser('console keyboard focus and live regions', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: TOKEN,
      stripeSecret: 'whsec_console_focus_stripe',
      // The destination fails bodies that mention "fail".
      sink: new HttpSink((request) => ({ status: request.body.includes('"fail') ? 503 : 200 })),
      routes: (sinkUrl) => ({ destinations: { billing: { url: `${sinkUrl}/billing` } }, routes: [{ provider: 'stripe', to: ['billing'] }] }),
      env: { JOB_ATTEMPTS: '1', JOB_BACKOFF_MS: '50', RECONCILER_INTERVAL_MS: '600000' },
    });
    baseUrl = fixture.baseUrl;
  }, 180_000);

  afterAll(() => fixture?.close());

  it('keeps the focus in the search field after Enter runs the search (it is not dropped to the page body)', async () => {
    const target = await fixture.sendStripe('invoice.paid');
    await fixture.sendStripe('invoice.paid');
    await fixture.waitForStatus(target.id, 'COMPLETED');
    const page = await fixture.signedInPage();
    await rows(page).first().waitFor();

    await page.getByLabel('Search').focus();
    await page.keyboard.type(target.externalId);
    await page.keyboard.press('Enter');
    await waitFor('the search result', async () => (await rows(page).count()) === 1 && (await rowFor(page, target.externalId).count()) === 1);
    // A keyboard user who pressed Enter in the field is still there (to refine the search or Tab on to the result).
    expect(await focused(page)).toMatchObject({ tag: 'INPUT', id: 'filter-q' });

    // The event type field, the same way.
    await page.getByLabel('Event type').focus();
    await page.keyboard.type('invoice.paid');
    // The list's first page for the type is asked by an effect of the rendering that took the new URL in: answered, that
    // rendering (where a re-keyed field lost the focus) is done. A fixed 300 ms could pass before it on a loaded machine.
    const typeListed = page.waitForResponse((response) => new URL(response.url()).pathname.endsWith('/admin/events') && new URL(response.url()).searchParams.get('eventType') === 'invoice.paid');
    await page.keyboard.press('Enter');
    await waitFor('the event type in the URL', () => page.url().includes('eventType=invoice.paid'));
    await typeListed;
    await afterRendering(page);
    expect(await focused(page)).toMatchObject({ tag: 'INPUT', id: 'filter-type' });
  });
  it('shows the search of the URL in the search field after back/forward and "Clear filters" (the field is not re-keyed, it follows the URL)', async () => {
    const first = await fixture.sendStripe('invoice.upcoming');
    const second = await fixture.sendStripe('invoice.upcoming');
    await fixture.waitForStatus(second.id, 'COMPLETED');
    const page = await fixture.signedInPage();
    await rows(page).first().waitFor();
    const search = page.getByLabel('Search');
    for (const { externalId } of [first, second]) {
      await search.fill(externalId);
      await search.press('Enter');
      // The unfiltered list shows both events already: wait for the search to have run (in the URL, the list down to its
      // one row). Typed while the first search was still going through, the second was replaced in the field by the
      // first when the URL changed (the field follows the URL's search), and the second search never ran.
      await waitFor(`the search for ${externalId} run`, async () => page.url().includes(externalId) && (await rows(page).count()) === 1 && (await rowFor(page, externalId).count()) === 1);
    }
    await page.goBack();
    await rowFor(page, first.externalId).waitFor();
    await waitFor('the search field back at the first search', async () => (await search.inputValue()) === first.externalId);
    await page.goForward();
    await rowFor(page, second.externalId).waitFor();
    await waitFor('the search field forward at the second search', async () => (await search.inputValue()) === second.externalId);
    // Typed but not run: the field keeps it while another filter changes.
    await search.fill('not_run_yet');
    await page.getByLabel('Status').selectOption('COMPLETED');
    await waitFor('the status in the URL', () => page.url().includes('status=COMPLETED'));
    expect(await search.inputValue()).toBe('not_run_yet');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await waitFor('the search field cleared', async () => (await search.inputValue()) === '');
  });

  it('gives the focus back to a usable control after "Replay selected" (not to the page body)', async () => {
    const dead = await fixture.sendStripe('invoice.payment_failed', { fail: true });
    await fixture.waitForStatus(dead.id, 'DEAD_LETTER');
    const page = await fixture.signedInPage();
    await rowFor(page, dead.externalId).waitFor();
    await rowFor(page, dead.externalId).getByRole('checkbox').focus();
    await page.keyboard.press('Space');
    await page.getByRole('button', { name: 'Replay selected (1)' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Replay 1 selected event?' }).waitFor();
    expect((await focused(page)).text).toBe('Replay 1');
    await page.keyboard.press('Enter');
    await page.locator('p.notice', { hasText: 'Replay started for 1 event.' }).waitFor();
    await waitFor('the dialog closed', async () => (await page.getByRole('dialog').count()) === 0);
    // The focus is handed on by an effect after the dialog's closing rendering.
    await afterRendering(page);
    // The opener ("Replay selected") is disabled now that the selection is empty; the focus must land somewhere a
    // keyboard user can go on from, not on <body> (Tab would start again from the top of the page).
    expect((await focused(page)).tag).not.toBe('BODY');
  });

  it('announces the outcome of a search in the live region (screen-reader users hear how many events matched)', async () => {
    const target = await fixture.sendStripe('invoice.finalized');
    await fixture.waitForStatus(target.id, 'COMPLETED');
    const page = await fixture.signedInPage();
    await rows(page).first().waitFor();
    const liveRegion = page.locator('[role=status][aria-live=polite]');
    await page.getByLabel('Search').fill(target.externalId);
    await page.getByLabel('Search').press('Enter');
    await waitFor('the search result', async () => (await rows(page).count()) === 1);
    // "Showing 1 event" is plain text, not a live region; the console's own announcer says nothing about the result.
    await waitFor('an announcement of the search result', async () => /\b1\b.*event|event.*\b1\b/i.test((await liveRegion.textContent()) ?? ''), {
      timeoutMs: 3000,
      intervalMs: 100,
    });
    await page.getByLabel('Search').fill('no_such_event_anywhere');
    await page.getByLabel('Search').press('Enter');
    await page.locator('p.empty', { hasText: 'No event matches these filters.' }).waitFor();
    await waitFor('an announcement that nothing matched', async () => /no event/i.test((await liveRegion.textContent()) ?? ''), { timeoutMs: 3000, intervalMs: 100 });
  });

  it("does not re-announce the event detail's status every second while the status stays the same", async () => {
    const done = await fixture.sendStripe('invoice.voided');
    await fixture.waitForStatus(done.id, 'COMPLETED');
    const page = await fixture.signedInPage();
    await page.goto(`${baseUrl}/console#/events/${done.id}`);
    const status = page.locator('.detail__status');
    await status.getByText('Completed', { exact: true }).waitFor();
    expect(await status.getAttribute('aria-live')).toBe('polite');
    // Every text change inside an aria-live region is spoken. The status is unchanged for these 5 s, so nothing
    // inside the region should change; the "updated N s ago" counter inside it changes once a second.
    await page.evaluate(`(() => {
      const region = document.querySelector('.detail__status');
      window.__liveTexts = [];
      new MutationObserver(() => window.__liveTexts.push(region.textContent)).observe(region, { subtree: true, characterData: true, childList: true });
    })()`);
    await page.waitForTimeout(5000);
    const texts = await page.evaluate<string[]>('window.__liveTexts');
    expect(await fixture.statusOf(done.id)).toBe('COMPLETED');
    expect(texts).toEqual([]);
  });
  it("keeps the keyboard focus on the event detail after a replay whose event stays in progress (Replay button disabled)", async () => {
    const done = await fixture.sendStripe('invoice.sent');
    await fixture.waitForStatus(done.id, 'COMPLETED');
    // A paused destination: the replayed event waits PENDING, so the detail's "Replay event" button turns disabled.
    expect((await adminRequest(baseUrl, TOKEN, 'POST', '/admin/destinations/billing/pause')).status).toBe(200);
    try {
      const page = await fixture.signedInPage();
      await page.goto(`${baseUrl}/console#/events/${done.id}`);
      await page.locator('.detail__status').getByText('Completed', { exact: true }).waitFor();
      await page.getByRole('button', { name: 'Replay event' }).focus();
      await page.keyboard.press('Enter');
      await page.getByRole('dialog', { name: 'Replay this event?' }).waitFor();
      await page.keyboard.press('Enter');
      await page.locator('p.notice', { hasText: 'Replay started' }).waitFor();
      await page.locator('.detail__status').getByText('Pending', { exact: true }).waitFor({ timeout: 20_000 });
      await waitFor('"Replay event" disabled', () => page.getByRole('button', { name: 'Replay event' }).isDisabled());
      await afterRendering(page);
      // The dialog handed the focus back to "Replay event", which the new status then disabled: the focus fell to
      // <body>, and a keyboard user starts again from the top of the page.
      expect(await page.getByRole('button', { name: 'Replay event' }).isDisabled()).toBe(true);
      expect((await focused(page)).tag).not.toBe('BODY');
    } finally {
      await adminRequest(baseUrl, TOKEN, 'POST', '/admin/destinations/billing/resume');
    }
  });
});
