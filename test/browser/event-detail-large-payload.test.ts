import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * The event page with a large payload, while the event is in progress (it polls every 1.5 s). A megabyte of payload
 * took seconds to render, and every poll (a 304 too) formatted and rendered it again. Checked without wall-clock
 * bounds: the payload and the raw body show their first 262,144 characters with a notice and a "Show all" button
 * that shows everything, and a poll answered 304 renders nothing again (the view's render count, `data-renders` on
 * the article, stays put and a MutationObserver sees nothing change in the payload block).
 */

const LIMIT = 256 * 1024;
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

// About 600 KB as received, 1 MB formatted.
const payload = { type: 'big.payload', items: Array.from({ length: 40_000 }, (_, index) => `item-${String(index).padStart(6, '0')}`) };
const rawBody = JSON.stringify(payload);
const formattedLength = JSON.stringify(payload, null, 2).length;

/** Counts changes under the payload block (window.__payloadMutations) from now on. */
const OBSERVE_PAYLOAD = `(() => {
  window.__payloadMutations = 0;
  const target = document.querySelector('pre[aria-label="Payload, formatted JSON"]');
  new MutationObserver((records) => (window.__payloadMutations += records.length)).observe(target, { subtree: true, childList: true, characterData: true, attributes: true });
})()`;

describeBrowser('an event with a large payload', () => {
  beforeAll(async () => {
    // Ingress only: no worker, so the event stays PENDING and the page keeps polling every 1.5 s.
    fixture = await startConsoleFixture({ token: 'adm_large_payload_2b8f', service: 'in-process', env: { SERVICE_ROLE: 'ingress' } });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('shows the first 256 KB with "Show all", renders nothing again on a 304, and shows everything on request', async () => {
    const { rows } = await fixture.db.pool.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
       VALUES ('stripe', 'evt_large_payload', 'big.payload', $1::jsonb, $2, 'application/json', 'PENDING') RETURNING id`,
      [rawBody, Buffer.from(rawBody)],
    );
    const id = String(rows[0].id);

    const page = await fixture.newPage({ viewport: { width: 1360, height: 1000 } });
    const answers: number[] = [];
    page.on('response', (response) => {
      if (response.url().endsWith(`/admin/events/${id}`)) answers.push(response.status());
    });
    await fixture.signIn(page);
    await page.goto(`${fixture.baseUrl}/console#/events/${id}`);
    await page.getByRole('heading', { name: 'Payload', exact: true }).waitFor();

    const formatted = page.getByLabel('Payload, formatted JSON', { exact: true });
    const raw = page.getByLabel('Raw body', { exact: true });
    expect(((await formatted.textContent()) ?? '').length).toBe(LIMIT);
    expect(((await raw.textContent()) ?? '').length).toBe(LIMIT);
    const notices = page.locator('.truncated');
    expect(await notices.first().textContent()).toContain(`Showing the first 262,144 of ${formattedLength.toLocaleString('en-US')} characters.`);
    expect(await notices.nth(1).textContent()).toContain(`Showing the first 262,144 of ${rawBody.length.toLocaleString('en-US')} characters.`);

    // Polls answered 304 (nothing changed) render nothing again.
    const article = page.locator('article.detail');
    const rendersBefore = await article.getAttribute('data-renders');
    await page.evaluate(OBSERVE_PAYLOAD);
    const notModifiedBefore = answers.filter((status) => status === 304).length;
    await waitFor('two polls answered 304', async () => answers.filter((status) => status === 304).length >= notModifiedBefore + 2, { timeoutMs: 30_000 });
    expect(await article.getAttribute('data-renders')).toBe(rendersBefore);
    expect(await page.evaluate('window.__payloadMutations')).toBe(0);

    // "Show all" shows the whole formatted payload; the raw body keeps its own button.
    await page.getByRole('button', { name: 'Show all of the payload, formatted json' }).click();
    await waitFor('the whole payload', async () => ((await formatted.textContent()) ?? '').length === formattedLength, { timeoutMs: 30_000 });
    expect(JSON.parse((await formatted.textContent())!)).toEqual(payload);
    expect(await page.locator('.truncated').count()).toBe(1);
    await page.close();
  });
});
