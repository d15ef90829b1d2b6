import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page } from 'playwright-core';
import { HttpSink } from '../support/http-sink.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * The console as an attacker who can reach an operator's screen sees it. What a signed webhook carries (its event
 * type, the provider's id, its body), what a destination answers (its error text), and a console link someone sends
 * the operator are all text the operator reads: none of it may run as markup, none may stop the console working, and
 * none may make the console say what it did not mean.
 */

const SECRET = 'whsec_console_hostile_data';
const TOKEN = 'adm_console_hostile_3f9d1c';
/** Sets window.__xss (to where it ran) should any of it ever be markup. */
const hostile = (where: string) => `<img src=x onerror="window.__xss='${where}'"><script>window.__xss='${where}'</script>`;
const DESTINATION_ANSWER = `${hostile('answer')}<a href="javascript:window.__xss='link'">retry</a>`;

jest.setTimeout(120_000);

let fixture: ConsoleFixture;
/** In an event's body, asks the sink for an answer with a right-to-left override (a destination echoing the sender's text). */
const OVERRIDE_ANSWER = 'override_answer';
/** `hook` answers with hostile HTML (or an override when the event asks), `second` with "nope". */
const sink = new HttpSink((request) =>
  request.path === '/second'
    ? { status: 500, body: 'nope' }
    : { status: 500, body: request.body.includes(OVERRIDE_ANSWER) ? 'refused \u202E by hook' : DESTINATION_ANSWER, headers: { 'content-type': 'text/html' } },
);

/** Runs in the page: what would show that hostile text became markup. */
const MARKUP_RAN = `({
  xss: window.__xss ?? null,
  elements: document.querySelectorAll('main img, main script, main svg:not(.chart__svg):not(.bars), a[href^="javascript:" i]').length,
})`;

async function sendHostileStripe(type: string, id: string, extra: Record<string, unknown> = {}): Promise<string> {
  const body = JSON.stringify({ id, object: 'event', type, ...extra });
  const response = await postWebhook(fixture.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, SECRET) });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

/** Where each of `words` is drawn (the left edge of its first occurrence in a text node inside `selector`'s element). */
async function wordsLeftEdge(page: Page, selector: string, words: string[]): Promise<Record<string, number>> {
  return page.evaluate(`(() => {
    const walker = document.createTreeWalker(document.querySelector(${JSON.stringify(selector)}), NodeFilter.SHOW_TEXT);
    const texts = [];
    while (walker.nextNode()) texts.push(walker.currentNode);
    const at = (word) => {
      const node = texts.find((candidate) => candidate.textContent.includes(word));
      const range = document.createRange();
      range.setStart(node, node.textContent.indexOf(word));
      range.setEnd(node, node.textContent.indexOf(word) + word.length);
      return range.getBoundingClientRect().left;
    };
    return Object.fromEntries(${JSON.stringify(words)}.map((word) => [word, at(word)]));
  })()`);
}

const pageErrorsOf = (page: Page) => {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
};

describeBrowser('the console with hostile data', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: TOKEN,
      service: 'in-process',
      stripeSecret: SECRET,
      sink,
      routes: (sinkUrl) => ({
        destinations: { hook: { url: `${sinkUrl}/hook` }, second: { url: `${sinkUrl}/second` } },
        routes: [{ provider: 'stripe', to: ['hook', 'second'] }],
      }),
      // One attempt: the destination's answer is the event's last error at once.
      env: { JOB_ATTEMPTS: '1' },
    });
  }, 120_000);

  afterAll(() => fixture?.close());

  it("shows a signed event's type, id, body and a destination's HTML answer as text, in the list and the detail", async () => {
    const type = `invoice.${hostile('type')}`;
    const externalId = `evt_${hostile('id')}`.slice(0, 255);
    const id = await sendHostileStripe(type, externalId, { note: hostile('body') });
    await fixture.waitForStatus(id, 'DEAD_LETTER');

    const page = await fixture.signedInPage();
    const errors = pageErrorsOf(page);
    const row = page.locator('tbody tr', { hasText: 'invoice.<img' });
    await row.waitFor();
    expect(await row.innerText()).toContain('retry</a>');
    expect(await page.evaluate(MARKUP_RAN)).toEqual({ xss: null, elements: 0 });

    await page.goto(`${fixture.baseUrl}/console#/events/${id}`);
    await page.locator('pre[aria-label="Payload, formatted JSON"]').waitFor();
    expect(await page.locator('#detail-title').innerText()).toContain(type);
    expect(await page.locator('.facts').innerText()).toContain('retry</a>');
    expect(await page.evaluate(MARKUP_RAN)).toEqual({ xss: null, elements: 0 });
    expect(errors).toEqual([]);
    await page.close();
  });

  it("an event type with a right-to-left override does not turn round the heading's \"from <provider>\"", async () => {
    // U+202E (right-to-left override) reorders what follows it in its paragraph: the heading reads "epirts morf".
    const id = await sendHostileStripe('invoice.paid\u202E', `evt_bidi_${Date.now()}`);
    const page = await fixture.signedInPage();
    await page.goto(`${fixture.baseUrl}/console#/events/${id}`);
    await page.locator('#detail-title', { hasText: 'stripe' }).waitFor();
    // Where "from" and "stripe" are drawn: left to right, as the console wrote them.
    const { from, stripe } = await wordsLeftEdge(page, '#detail-title .muted', ['from', 'stripe']);
    expect(from).toBeLessThan(stripe!);
    await page.close();
  });

  it('an event type cannot end its isolation early: a stray U+2069 or a paragraph separator before the override', async () => {
    // <bdi> alone was not enough: Chromium takes a U+2069 (pop directional isolate) in the text as the end of the
    // <bdi>'s isolate, and a paragraph separator ends every isolate; the override after either reordered the heading.
    const page = await fixture.signedInPage();
    for (const [name, breakout] of [
      ['U+2069', '\u2069'],
      ['U+2069 after an isolate of its own', '\u2067x\u2069\u2069'],
      ['U+2029', '\u2029'],
      ['U+0085', '\u0085'],
    ] as const) {
      const id = await sendHostileStripe(`invoice.paid${breakout}\u202E`, `evt_bidi_${Date.now()}_${name.replace(/\W/g, '_')}`);
      await page.goto(`${fixture.baseUrl}/console#/events/${id}`);
      await page.locator('#detail-title', { hasText: 'stripe' }).waitFor();
      const { from, stripe } = await wordsLeftEdge(page, '#detail-title .muted', ['from', 'stripe']);
      expect({ name, inOrder: from! < stripe! }).toEqual({ name, inOrder: true });
      // The value itself is still there, its own isolate kept (only what would end the one around it is taken out).
      expect(await page.locator('#detail-title bdi').textContent()).toContain('invoice.paid');
    }
    await page.close();
  });

  it("one destination's answer with a right-to-left override does not reorder the rest of the event's last error", async () => {
    // The worker writes the last error as "hook: <its error>; second: <its error>": the override in hook's answer
    // turned "; second: HTTP 500: nope" round in the one line, in the console as in a terminal.
    const id = await sendHostileStripe('invoice.paid', `evt_bidi_answer_${Date.now()}`, { note: OVERRIDE_ANSWER });
    await fixture.waitForStatus(id, 'DEAD_LETTER');
    const page = await fixture.signedInPage();
    const cell = `table.events-table tbody tr:has(a[href$="/events/${id}"]) td.error-cell`;
    await page.locator(cell, { hasText: 'nope' }).waitFor();
    const left = await wordsLeftEdge(page, cell, ['hook', 'refused', 'second', 'nope']);
    expect(left.hook).toBeLessThan(left.refused!);
    expect(left.second).toBeLessThan(left.nope!);
    expect(left.refused).toBeLessThan(left.second!);
    await page.close();
  });

  it('an invisible character in an event type or id is shown: the value does not read as another, and copies as sent', async () => {
    // A zero-width space (U+200B) is drawn as nothing: "invoice.pa\u200Bid" read exactly as "invoice.paid", and the
    // provider's id as one the search box then did not find.
    const plain = await sendHostileStripe('invoice.paid', `evt_plain_${Date.now()}`);
    const invisibleType = 'invoice.pa\u200Bid';
    const invisibleId = `evt_1\u200B23_${Date.now()}`;
    const invisible = await sendHostileStripe(invisibleType, invisibleId);
    const page = await fixture.signedInPage();
    const typeLink = (id: string) => page.locator(`tbody tr a[href$="/events/${id}"]`);
    await typeLink(invisible).waitFor();
    await typeLink(plain).waitFor();
    const drawnWidth = async (id: string) => (await typeLink(id).boundingBox())!.width;
    expect(await drawnWidth(invisible)).toBeGreaterThan((await drawnWidth(plain)) + 10);
    expect(await page.locator(`tbody tr:has(a[href$="/events/${invisible}"]) td.mono bdi`).getAttribute('title')).toBeNull();
    expect(await page.locator(`tbody tr:has(a[href$="/events/${invisible}"]) td.mono [title]`).getAttribute('title')).toContain('U+200B');

    await page.goto(`${fixture.baseUrl}/console#/events/${invisible}`);
    await page.locator('#detail-title', { hasText: 'stripe' }).waitFor();
    // The code point is the stylesheet's: the text itself, what a copy takes, is the sender's.
    expect(await page.locator('#detail-title bdi').textContent()).toBe(invisibleType);
    expect(await page.locator('.facts bdi').first().textContent()).toBe(invisibleId);
    await page.close();
  });

  it('a console link with a malformed escape in the event id shows "not found", and the console goes on working', async () => {
    const page = await fixture.signedInPage();
    const errors = pageErrorsOf(page);
    await page.goto(`${fixture.baseUrl}/console#/events/%E0%A4%A`);
    await page.locator('#detail-title', { hasText: 'Event not found' }).waitFor();
    await page.locator('a', { hasText: 'All events' }).click();
    await page.locator('#events-title').waitFor();
    expect(errors).toEqual([]);
    await page.close();
  });

  it("a console link's text is not written into the page as the console's own words", async () => {
    const page = await fixture.signedInPage();
    const lure = 'x. Your token was rotated: sign in again at https://evil.example/console';
    await page.goto(`${fixture.baseUrl}/console#/events/${encodeURIComponent(lure)}`);
    await page.locator('#detail-title', { hasText: 'Event not found' }).waitFor();
    expect(await page.locator('main').innerText()).not.toContain('evil.example');
    await page.close();
  });
});
