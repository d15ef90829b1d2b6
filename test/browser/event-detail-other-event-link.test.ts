import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * An event's page, then a link to another event opened in the same tab (pasted into the address bar, or back and
 * forward between two events' pages): the page must show the event the link names. The view kept what it held for
 * the first event while the second loaded, and when the second could not be loaded (no such event: a 404, which is
 * not asked again) it went on showing the first event's facts, payload and "Replay event" under the second's link,
 * with only "Refreshing failed: Event not found" above them (and "Replay event" there, for a replayable first event,
 * would have replayed that one: the view replays the event it holds).
 */

const SECRET = 'whsec_detail_other_event';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

describeBrowser('an event page followed by a link to another event', () => {
  beforeAll(async () => {
    // Ingress only: the event stays PENDING, which is all the page needs to show it.
    fixture = await startConsoleFixture({ token: 'adm_detail_other_event_3f9c', service: 'in-process', stripeSecret: SECRET, env: { SERVICE_ROLE: 'ingress' } });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('a link to an event that does not exist says so, and shows nothing of the event seen before', async () => {
    const first = await fixture.sendStripe('invoice.paid');
    const page = await fixture.signedInPage();
    await page.goto(`${fixture.baseUrl}/console#/events/${first.id}`);
    await page.locator('dl.facts dd', { hasText: first.id }).waitFor();

    const missing = randomUUID();
    // As a link pasted into the address bar: the hash changes, the page stays.
    await page.evaluate(`location.hash = ${JSON.stringify(`#/events/${missing}`)}`);
    const heading = page.locator('h1#detail-title');
    // The 404's answer shown (as the page's error, whichever way the page puts it).
    await page.locator('p.error[role="alert"]').first().waitFor();
    expect({
      heading: (await heading.innerText()).trim(),
      firstEventShown: (await page.locator('body').innerText()).includes(first.id),
      replayButton: await page.getByRole('button', { name: 'Replay event' }).count(),
    }).toEqual({ heading: 'Event not found', firstEventShown: false, replayButton: 0 });
    await page.close();
  });
});
