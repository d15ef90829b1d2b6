import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page } from 'playwright-core';
import { HttpSink } from '../support/http-sink.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * Hostile text that is not markup but still takes the console's layout over: a signed event's type and id of 255
 * characters without a space, a header of 512, a destination answering kilobytes of one word, and an event type of
 * stacked combining marks. One such event must not push every other event's columns out of view, make the detail
 * scroll sideways, or paint over other events' rows.
 */

const SECRET = 'whsec_console_hostile_layout';
const TOKEN = 'adm_console_hostile_layout_7c2e';
/** In an event's body: asks the sink for a long answer of one word (the event's last error). */
const LONG_ANSWER = 'long_answer';
const sink = new HttpSink((request) =>
  request.body.includes(LONG_ANSWER) ? { status: 500, body: 'E'.repeat(3000), headers: { 'content-type': 'text/plain' } } : { status: 500, body: 'nope' },
);

jest.setTimeout(120_000);

let fixture: ConsoleFixture;

async function sendStripe(type: string, id: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<string> {
  const body = JSON.stringify({ id, object: 'event', type, ...extra });
  const response = await postWebhook(fixture.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, SECRET), ...headers });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

/** How far the page, and the events table inside its frame, reach beyond what is shown (px; 0: nothing hidden sideways). */
const SIDEWAYS_OVERFLOW = `({
  page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  table: (() => { const wrap = document.querySelector('.table-wrap'); return wrap ? wrap.scrollWidth - wrap.clientWidth : 0; })(),
})`;

/**
 * How many pixels of `selector`'s element are drawn in ink (far from the colour of its top-left corner, its
 * background), animations finished and no hover. Counted, not compared pixel for pixel: a row moved by a fraction of a
 * pixel is drawn a little differently.
 */
async function inkOf(page: Page, selector: string): Promise<number> {
  await page.mouse.move(0, 0);
  const png = await page.locator(selector).screenshot({ animations: 'disabled' });
  const counter = await fixture.newPage();
  try {
    return await counter.evaluate(`(async () => {
      const image = new Image();
      image.src = 'data:image/png;base64,${png.toString('base64')}';
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = image.width;
      canvas.height = image.height;
      const context = canvas.getContext('2d');
      context.drawImage(image, 0, 0);
      const { data } = context.getImageData(0, 0, image.width, image.height);
      let ink = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (Math.abs(data[i] - data[0]) + Math.abs(data[i + 1] - data[1]) + Math.abs(data[i + 2] - data[2]) > 180) ink += 1;
      }
      return ink;
    })()`);
  } finally {
    await counter.close();
  }
}

describeBrowser('the console with text that would take its layout over', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: TOKEN,
      service: 'in-process',
      stripeSecret: SECRET,
      sink,
      routes: (sinkUrl) => ({ destinations: { hook: { url: `${sinkUrl}/hook` } }, routes: [{ provider: 'stripe', to: ['hook'] }] }),
      // One attempt: the destination's answer is the event's last error at once.
      env: { JOB_ATTEMPTS: '1' },
    });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('long values of one word wrap: the list keeps every column in view and the detail does not scroll sideways', async () => {
    const type = `invoice.${'a'.repeat(247)}`;
    const id = await sendStripe(type, `evt_${'b'.repeat(251)}`, { note: LONG_ANSWER }, { 'user-agent': 'U'.repeat(512) });
    await fixture.waitForStatus(id, 'DEAD_LETTER');

    const page = await fixture.signedInPage();
    await page.locator('tbody tr', { hasText: 'EEEE' }).waitFor();
    // The one long event type pushed "Provider's id" and "Last error" out of the frame, for every event listed.
    expect(await page.evaluate(SIDEWAYS_OVERFLOW)).toEqual({ page: 0, table: 0 });
    const lastError = await page.getByRole('columnheader', { name: 'Last error' }).boundingBox();
    expect(lastError!.x + lastError!.width).toBeLessThanOrEqual(await page.evaluate('document.documentElement.clientWidth'));

    await page.goto(`${fixture.baseUrl}/console#/events/${id}`);
    await page.locator('pre[aria-label="Payload, formatted JSON"]').waitFor();
    await page.locator('.facts', { hasText: 'EEEE' }).waitFor();
    // The heading, the provider's id, the last error and the user-agent made the page 5,000 px wide.
    expect(await page.evaluate(SIDEWAYS_OVERFLOW)).toEqual({ page: 0, table: 0 });
    // What the operator came for is where it belongs: the replay button in view, the type shown whole.
    expect(await page.getByRole('button', { name: 'Replay event' }).isVisible()).toBe(true);
    const replay = await page.getByRole('button', { name: 'Replay event' }).boundingBox();
    expect(replay!.x + replay!.width).toBeLessThanOrEqual(await page.evaluate('document.documentElement.clientWidth'));
    expect(await page.locator('#detail-title bdi').textContent()).toBe(type);
    expect(fixture.pageErrors).toEqual([]);
    await page.close();
  });

  it("stacked combining marks in an event type stay in its own cell: the other events' rows are drawn as without it", async () => {
    // A one-letter type: its cell is nearly all background, so the few pixels a row drawn a fraction of a pixel lower
    // changes stay few. With "invoice.paid" (366 pixels of ink) that alone moved the count by 8 on a loaded machine,
    // while the marks this test is about add about 25.
    const plain = await sendStripe('x', `evt_plain_${Date.now()}`);
    await fixture.waitForStatus(plain, 'DEAD_LETTER');
    const page = await fixture.signedInPage();
    const plainCell = `tbody tr:has(a[href$="/events/${plain}"]) td:nth-child(5)`;
    await page.locator(plainCell).waitFor();
    const alone = await inkOf(page, plainCell);

    // Newer, so listed right above it: 127 marks drawn above the "z", 127 below it, each mark a few pixels further.
    const marks = await sendStripe(`z${'\u0301'.repeat(127)}${'\u0316'.repeat(127)}`, `evt_marks_${Date.now()}`);
    await fixture.waitForStatus(marks, 'DEAD_LETTER');
    await page.locator(`tbody tr:has(a[href$="/events/${marks}"])`).waitFor();
    const after = await inkOf(page, plainCell);
    // The plain event's cell, drawn again: the marks from the row above used to run down through it.
    expect(after).toBeLessThanOrEqual(alone + 5);
    await page.close();
  });
});
