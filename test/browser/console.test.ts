import path from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page } from 'playwright-core';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser, screenshotsDir } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { notice, rowFor, rows } from './support/console-locators.js';

/**
 * The event console in a real browser (Debian's chromium, driven by playwright-core) against a real service process
 * (SERVICE_ROLE=all, PostgreSQL, Redis, a local destination): sign-in, filters, detail, replay until COMPLETED, live
 * updates, keyboard-only use, axe, nothing requested from another origin, the CSP enforced, the token in no URL and
 * no log line. Each main view is left as a screenshot in CONSOLE_SCREENSHOTS_DIR (default: a temp folder).
 */

const TOKEN = 'adm_console_browser_7c1e9a';
const TRACE_TEMPLATE = 'http://tracing.invalid/trace/{traceId}';

// A browser, the service and the test share two busy cores: a step that takes 20 s under load must not fail.
jest.setTimeout(120_000);

// Code that runs in the page is written as strings: this project type-checks its tests without the DOM library.
/** Records the page's CSP violations in window.__cspViolations (added to every page before its scripts run). */
const RECORD_CSP_VIOLATIONS = `
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (event) => window.__cspViolations.push(event.effectiveDirective + ' ' + event.blockedURI));
`;
const CSP_VIOLATIONS = 'window.__cspViolations';
/** The focused element: id, text, tag, and its outline style (a visible focus has one). */
const FOCUSED = `(() => {
  const element = document.activeElement;
  return { id: element?.id ?? '', text: element?.textContent ?? '', tag: element?.tagName ?? '', outline: element ? getComputedStyle(element).outlineStyle : '' };
})()`;
/** Tries what the CSP must stop: an inline script, a request to another host. */
const TRY_TO_BREAK_OUT = `(async () => {
  const script = document.createElement('script');
  script.textContent = 'window.__inlineRan = true';
  document.head.append(script);
  const fetched = await fetch('http://192.0.2.1/steal').then(() => 'sent', () => 'blocked');
  // Each violation report is an event dispatched by a task of its own: waited for (10 s at most), where a fixed 100 ms
  // could pass first on a loaded machine. A CSP that let either through reports nothing: the deadline, then the check.
  const directives = () => window.__cspViolations.map((violation) => violation.split(' ')[0]);
  const deadline = Date.now() + 10000;
  while (!(directives().includes('script-src-elem') && directives().includes('connect-src')) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { inlineRan: window.__inlineRan === true, fetched, violations: directives() };
})()`;

let fixture: ConsoleFixture;
let baseUrl: string;
/** Destinations fail bodies that mention "fail" until healed. */
let healed = false;
const sink = new HttpSink((request) => ({ status: !healed && request.body.includes('"fail') ? 503 : 200 }));
/** Every request any tracked page made. */
const requests: string[] = [];

/** A fresh tab (its own sessionStorage), tracked: its requests, page errors and CSP violations are recorded. */
async function newPage(): Promise<Page> {
  const context = await fixture.newContext();
  await context.addInitScript({ content: RECORD_CSP_VIOLATIONS });
  context.on('request', (request) => requests.push(request.url()));
  return context.newPage();
}

async function axe(page: Page, view: string) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  const serious = results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => ({ view, id: violation.id, impact: violation.impact, nodes: violation.nodes.map((node) => node.target.join(' ')).slice(0, 5) }));
  expect(serious).toEqual([]);
}

const screenshot = (page: Page, name: string) => page.screenshot({ path: path.join(screenshotsDir, `${name}.png`), fullPage: true });

describeBrowser('event console in a browser', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: TOKEN,
      stripeSecret: 'whsec_console_browser_stripe',
      githubSecret: 'gh-console-browser',
      sink,
      routes: (sinkUrl) => ({
        destinations: { billing: { url: `${sinkUrl}/billing` }, crm: { url: `${sinkUrl}/crm` }, ci: { url: `${sinkUrl}/ci` } },
        routes: [
          { provider: 'stripe', events: ['invoice.*'], to: ['billing', 'crm'] },
          { provider: 'stripe', events: ['charge.*'], to: ['billing'] },
          { provider: 'github', to: ['ci'] },
        ],
      }),
      env: { JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '50', RECONCILER_INTERVAL_MS: '600000', TRACE_URL_TEMPLATE: TRACE_TEMPLATE },
    });
    baseUrl = fixture.baseUrl;
  }, 180_000);

  afterAll(() => fixture?.close());

  it('is served by the service itself: a strict CSP, the page revalidated, hashed assets immutable, no inline script', async () => {
    const page = await fetch(`${baseUrl}/console`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const csp = page.headers.get('content-security-policy')!;
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "form-action 'none'"]) {
      expect(csp).toContain(directive);
    }
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|<style/);
    expect(html).not.toMatch(/https?:\/\//);
    const assets = [...html.matchAll(/(?:src|href)="(console\/assets\/[^"]+)"\s+integrity="sha384-/g)].map((match) => match[1]!);
    expect(assets).toEqual([expect.stringMatching(/^console\/assets\/app-[A-Z0-9]{8}\.css$/), expect.stringMatching(/^console\/assets\/app-[A-Z0-9]{8}\.js$/)]);
    for (const asset of assets) {
      const response = await fetch(`${baseUrl}/${asset}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(response.headers.get('content-type')).toMatch(asset.endsWith('.js') ? /javascript/ : /text\/css/);
    }
    const slash = await fetch(`${baseUrl}/console/`, { redirect: 'manual' });
    expect(slash.status).toBe(308);
    expect(slash.headers.get('location')).toBe('../console');
    expect((await fetch(`${baseUrl}/console/assets/app-NOPE.js`)).status).toBe(404);
    // Conditional requests for the page: 304 once the browser has it.
    const again = await fetch(`${baseUrl}/console`, { headers: { 'if-none-match': page.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });

  it('signs in with the admin token (Enter submits); a wrong token shows an error and no data; sign-out forgets the token', async () => {
    await fixture.sendStripe('invoice.paid');
    const page = await newPage();
    await page.goto(`${baseUrl}/console`);
    await screenshot(page, '01-sign-in');
    const field = page.getByLabel('Admin token');
    expect(await field.getAttribute('type')).toBe('password');
    await field.fill('not-the-token');
    await field.press('Enter');
    await expect(page.getByRole('alert').textContent()).resolves.toContain('That token was not accepted');
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByRole('table').count()).toBe(0);
    expect(await page.getByRole('heading', { name: 'Events', level: 1 }).count()).toBe(0);
    await axe(page, 'sign-in with an error');
    await screenshot(page, '02-sign-in-refused');

    await field.fill(TOKEN);
    await field.press('Enter');
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    await rows(page).first().waitFor();
    expect(page.url()).not.toContain(TOKEN);
    // A reload keeps the tab signed in; sign-out forgets the token for good.
    await page.reload();
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    expect(await page.evaluate<number>('Object.keys(sessionStorage).length')).toBe(0);
    await page.reload();
    await page.getByLabel('Admin token').waitFor();
    expect(await page.getByRole('table').count()).toBe(0);
  });

  it('filters by status, provider, event type and time range, and finds an event by either id', async () => {
    healed = false;
    const paid = await fixture.sendStripe('invoice.paid');
    const charge = await fixture.sendStripe('charge.succeeded');
    const push = await fixture.sendGithub();
    const dead = await fixture.sendStripe('invoice.payment_failed', { fail: true });
    await Promise.all([fixture.waitForStatus(paid.id, 'COMPLETED'), fixture.waitForStatus(charge.id, 'COMPLETED'), fixture.waitForStatus(push.id, 'COMPLETED'), fixture.waitForStatus(dead.id, 'DEAD_LETTER')]);

    const page = await newPage();
    await fixture.signIn(page);
    await rowFor(page, dead.externalId).waitFor();
    await screenshot(page, '03-events');
    await axe(page, 'events');

    await page.getByLabel('Status', { exact: true }).selectOption('DEAD_LETTER');
    await waitFor('only dead letters listed', async () => (await rows(page).allTextContents()).every((text) => text.includes('Dead letter')) && (await rowFor(page, dead.externalId).count()) === 1);
    expect(page.url()).toContain('status=DEAD_LETTER');
    expect(await page.getByRole('button', { name: /Dead letter/ }).getAttribute('aria-pressed')).toBe('true');
    await screenshot(page, '04-events-dead-letters');

    await page.getByLabel('Status', { exact: true }).selectOption('');
    await page.getByLabel('Provider').selectOption('github');
    await waitFor('only github listed', async () => {
      const texts = await rows(page).allTextContents();
      return texts.length > 0 && texts.every((text) => text.includes('github')) && texts.some((text) => text.includes(push.externalId));
    });

    await page.getByLabel('Provider').selectOption('');
    await page.getByLabel('Event type').fill('charge.succeeded');
    await page.getByLabel('Event type').press('Enter');
    await waitFor('only charge.succeeded listed', async () => {
      const texts = await rows(page).allTextContents();
      return texts.length > 0 && texts.every((text) => text.includes('charge.succeeded')) && texts.some((text) => text.includes(charge.externalId));
    });

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByLabel('Search').fill(paid.externalId);
    await page.getByLabel('Search').press('Enter');
    await waitFor('the event found by the provider id', async () => (await rows(page).count()) === 1 && (await rowFor(page, paid.externalId).count()) === 1);
    await page.getByLabel('Search').fill(dead.id);
    await page.getByLabel('Search').press('Enter');
    await waitFor('the event found by its id', async () => (await rows(page).count()) === 1 && (await rowFor(page, dead.externalId).count()) === 1);

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByLabel('Received').selectOption('15m');
    await rowFor(page, paid.externalId).waitFor();
    await page.getByLabel('Received').selectOption('custom');
    await page.getByLabel('From', { exact: true }).fill('2001-01-01T00:00:00');
    await page.getByLabel('To', { exact: true }).fill('2001-01-02T00:00:00');
    await page.locator('p.empty', { hasText: 'No event matches these filters.' }).waitFor();
  });

  it('shows an event: payload, raw body, headers, routing, each destination’s attempts, and the trace link', async () => {
    healed = false;
    const dead = await fixture.sendStripe('invoice.payment_failed', { fail: true, note: 'partner says: never got it' });
    await fixture.waitForStatus(dead.id, 'DEAD_LETTER');
    const page = await newPage();
    await fixture.signIn(page);
    await rowFor(page, dead.externalId).getByRole('link').click();
    await page.getByRole('heading', { name: /invoice\.payment_failed/, level: 1 }).waitFor();
    expect(page.url()).toContain(`#/events/${dead.id}`);

    const payload = page.getByLabel('Payload, formatted JSON');
    await expect(payload.textContent()).resolves.toContain('"note": "partner says: never got it"');
    await page.getByText('Raw body (text)').click();
    await expect(page.getByLabel('Raw body').textContent()).resolves.toContain('"note":"partner says: never got it"');
    await expect(page.getByRole('table').textContent()).resolves.toContain('content-type');

    const routing = page.getByRole('region', { name: 'Routing' });
    await expect(routing.textContent()).resolves.toMatch(/Route 1:.*stripe.*invoice\.\*.*billing, crm/);
    for (const destination of ['billing', 'crm']) {
      const deliveries = page.getByRole('region', { name: `Deliveries to ${destination}` });
      await expect(deliveries.getByRole('listitem').count()).resolves.toBe(2);
      await expect(deliveries.textContent()).resolves.toMatch(/First delivery.*Failed · HTTP 503 · attempt 1.*Failed · HTTP 503 · attempt 2/);
      await expect(deliveries.textContent()).resolves.toContain('not delivered');
    }
    const { rows: [row] } = await fixture.db.pool.query('SELECT trace_id FROM webhook_events WHERE id = $1', [dead.id]);
    const trace = page.getByRole('link', { name: new RegExp(row.trace_id) });
    expect(await trace.getAttribute('href')).toBe(TRACE_TEMPLATE.replace('{traceId}', row.trace_id));
    expect(await trace.getAttribute('rel')).toBe('noopener noreferrer');
    await axe(page, 'event detail');
    await screenshot(page, '05-event-detail-dead-letter');
  });

  it('replays a dead letter after a confirmation and shows it reach COMPLETED, the replay in the timeline', async () => {
    healed = false;
    const dead = await fixture.sendStripe('invoice.paid', { fail: true });
    await fixture.waitForStatus(dead.id, 'DEAD_LETTER');
    const page = await newPage();
    await fixture.signIn(page);
    await page.goto(`${baseUrl}/console#/events/${dead.id}`);
    await page.getByText('Dead letter', { exact: true }).waitFor();

    healed = true; // the cause is fixed
    await page.getByRole('button', { name: 'Replay event' }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay this event?' });
    await dialog.waitFor();
    await expect(dialog.textContent()).resolves.toContain('only the destinations that have not taken it yet');
    await axe(page, 'replay confirmation');
    await screenshot(page, '06-replay-confirmation');
    await dialog.getByRole('button', { name: 'Replay' }).click();
    await notice(page, 'Replay started').waitFor();
    // The page follows the event on its own, no reload.
    await page.locator('.detail__status').getByText('Completed', { exact: true }).waitFor({ timeout: 20_000 });
    expect(await fixture.statusOf(dead.id)).toBe('COMPLETED');
    const billing = page.getByRole('region', { name: 'Deliveries to billing' });
    await billing.getByText('Replay 1').waitFor();
    await expect(billing.textContent()).resolves.toMatch(/Replay 1.*Delivered · HTTP 200 · attempt 1/);
    await expect(billing.textContent()).resolves.toContain('delivered');
    await screenshot(page, '07-event-detail-replayed');
  });

  it('replays several selected events, and all dead letters of one provider', async () => {
    healed = false;
    const stripeDead = [await fixture.sendStripe('invoice.paid', { fail: true, bulk: 1 }), await fixture.sendStripe('invoice.paid', { fail: true, bulk: 2 })];
    const githubDead = await fixture.sendGithub({ fail: true });
    for (const event of [...stripeDead, githubDead]) await fixture.waitForStatus(event.id, 'DEAD_LETTER');
    healed = true;

    const page = await newPage();
    await fixture.signIn(page);
    await page.getByLabel('Status', { exact: true }).selectOption('DEAD_LETTER');
    // The filtered list, not the one it replaces (a new filter starts a new selection).
    await waitFor('the dead-letter list', async () => {
      const texts = await rows(page).allTextContents();
      return texts.length >= 3 && texts.every((text) => text.includes('Dead letter'));
    });
    for (const event of stripeDead) await rowFor(page, event.externalId).getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Replay selected (2)' }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay 2 selected events?' });
    await dialog.getByRole('button', { name: 'Replay 2' }).click();
    await notice(page, 'Replay started for 2 events.').waitFor();
    for (const event of stripeDead) await fixture.waitForStatus(event.id, 'COMPLETED');
    // Live: the replayed events leave the dead-letter list without a reload.
    await waitFor('the replayed events gone from the dead-letter list', async () => (await rowFor(page, stripeDead[0]!.externalId).count()) === 0, { timeoutMs: 20_000 });

    await page.getByRole('button', { name: 'Replay all dead letters…' }).click();
    const all = page.getByRole('dialog', { name: 'Replay dead letters?' });
    await all.getByLabel('Provider').selectOption('github');
    await all.getByText(/^1 dead letter goes back/).waitFor();
    await all.getByRole('button', { name: 'Replay 1' }).click();
    await notice(page, 'Replay started for 1 dead letter of github.').waitFor();
    await fixture.waitForStatus(githubDead.id, 'COMPLETED');
  });

  it('shows new events and status changes without a reload', async () => {
    healed = false;
    const page = await newPage();
    await fixture.signIn(page);
    const fresh = await fixture.sendStripe('charge.succeeded');
    await rowFor(page, fresh.externalId).waitFor({ timeout: 20_000 });
    const failing = await fixture.sendStripe('invoice.created', { fail: true });
    await rowFor(page, failing.externalId).getByText('Dead letter').waitFor({ timeout: 20_000 });
    healed = true;
    expect((await adminRequest(baseUrl, TOKEN, 'POST', `/admin/events/${failing.id}/replay`)).status).toBe(202);
    await rowFor(page, failing.externalId).getByText('Completed').waitFor({ timeout: 20_000 });
  });

  it('works with the keyboard alone, with a visible focus', async () => {
    healed = true;
    const target = await fixture.sendStripe('invoice.created', { keyboard: true });
    await fixture.waitForStatus(target.id, 'COMPLETED');
    const page = await newPage();
    await page.goto(`${baseUrl}/console`);
    // The token field takes the focus; Enter submits. (An autofocus is applied at the page's next rendering step, which
    // on a loaded machine can come after goto() returns: waited for, with a deadline.)
    await waitFor('the token field to have the focus', () => page.evaluate<string>('document.activeElement?.id').then((id) => id === 'admin-token'), {
      timeoutMs: 10_000,
    });
    await page.keyboard.type(TOKEN);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();

    const focused = () => page.evaluate<{ id: string; text: string; tag: string; outline: string }>(FOCUSED);
    const tabTo = async (matches: (element: { id: string; text: string; tag: string }) => boolean, what: string, key: 'Tab' | 'Shift+Tab' = 'Tab') => {
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press(key);
        const element = await focused();
        if (matches(element)) {
          expect({ what, outline: element.outline }).not.toEqual({ what, outline: 'none' });
          return;
        }
      }
      throw new Error(`Tab never reached ${what}`);
    };

    await tabTo((element) => element.id === 'filter-search' || element.id === 'filter-q', 'the search field');
    await page.keyboard.type(target.externalId);
    await page.keyboard.press('Enter');
    await waitFor('the search result', async () => (await rows(page).count()) === 1);
    await tabTo((element) => element.tag === 'A' && element.text === 'invoice.created', 'the event link');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /invoice\.created/, level: 1 }).waitFor();
    await tabTo((element) => element.tag === 'BUTTON' && element.text === 'Replay event', 'the replay button');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Replay this event?' }).waitFor();
    // Escape cancels and gives the focus back.
    await page.keyboard.press('Escape');
    await waitFor('the dialog closed', async () => (await page.getByRole('dialog').count()) === 0);
    // The dialog may be hidden (closed natively) a moment before the console unmounts it and hands the focus back.
    await waitFor('the focus back on the replay button', async () => (await focused()).text === 'Replay event', { timeoutMs: 5000, intervalMs: 50 });
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Replay this event?' }).waitFor();
    expect((await focused()).text).toBe('Replay');
    await page.keyboard.press('Enter');
    await notice(page, 'Replay started').waitFor();
    await waitFor('the replayed event delivered again', async () => (await fixture.db.pool.query('SELECT replays FROM webhook_events WHERE id = $1', [target.id])).rows[0].replays === 1);

    // The status filter from the keyboard: back to the list, Tab to it, arrow keys choose.
    await tabTo((element) => element.tag === 'A' && element.text === 'Events', 'the Events link', 'Shift+Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    await tabTo((element) => element.id === 'filter-status', 'the status filter');
    await page.keyboard.press('ArrowDown');
    await waitFor('the status filter applied', () => page.url().includes('status=PENDING'));
  });

  it('overview and destinations: charts and success rates, accessible', async () => {
    const page = await newPage();
    await fixture.signIn(page);
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const received = page.getByRole('img', { name: /^Received, events per minute/ });
    await received.waitFor();
    expect(await received.getAttribute('aria-label')).toMatch(/total [1-9]/);
    expect(await page.getByRole('img').count()).toBe(4);
    await page.getByLabel('Window').selectOption('1');
    await waitFor('the one-hour window', () => page.url().includes('hours=1'));
    await axe(page, 'overview');
    await screenshot(page, '08-overview');

    await page.getByRole('link', { name: 'Destinations' }).click();
    await page.getByRole('heading', { name: 'Destinations', level: 1 }).waitFor();
    const billing = page.getByRole('row', { name: /billing/ });
    await billing.waitFor();
    await expect(billing.textContent()).resolves.toMatch(/\d+(\.\d)?%/);
    expect(await page.getByRole('row').count()).toBe(4); // header + billing, crm, ci
    await axe(page, 'destinations');
    await screenshot(page, '09-destinations');
  });

  it('enforces its CSP: nothing was blocked in use, and an injected inline script or a request elsewhere is', async () => {
    // Every page used so far: no violation at all.
    for (const context of fixture.browser.contexts()) {
      for (const page of context.pages()) {
        expect(await page.evaluate<string[]>(CSP_VIOLATIONS)).toEqual([]);
      }
    }
    expect(fixture.pageErrors).toEqual([]);
    const context = await fixture.browser.newContext();
    await context.addInitScript({ content: RECORD_CSP_VIOLATIONS });
    const page = await context.newPage();
    await page.goto(`${baseUrl}/console`);
    await page.getByLabel('Admin token').waitFor();
    const outcome = await page.evaluate<{ inlineRan: boolean; fetched: string; violations: string[] }>(TRY_TO_BREAK_OUT);
    expect(outcome).toEqual({ inlineRan: false, fetched: 'blocked', violations: expect.arrayContaining(['script-src-elem', 'connect-src']) });
    await context.close();
  });

  it('requested nothing from another origin, and the token appeared in no URL and no log line', () => {
    expect(requests.length).toBeGreaterThan(20);
    expect(requests.filter((url) => !url.startsWith(`${baseUrl}/`))).toEqual([]);
    expect(requests.filter((url) => url.includes(TOKEN))).toEqual([]);
    expect(fixture.serviceProcess!.logs.length).toBeGreaterThan(0);
    expect(fixture.serviceProcess!.logs.filter((line) => line.includes(TOKEN))).toEqual([]);
  });
});
