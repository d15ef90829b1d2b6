import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rowFor } from './support/console-locators.js';

/**
 * "Clear filters" empties the search field and the event type field together, whatever each held: following the
 * URL only, a field whose own filter was not set (its text typed, not sent) kept its text while the other emptied.
 */

const TOKEN = 'adm_clear_filters_fields_91d4';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

describeBrowser('"Clear filters" and the two text fields', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', stripeSecret: 'whsec_clear_filters_fields' });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('empties the search field and the event type field in the same rendering', async () => {
    const event = await fixture.sendStripe('invoice.voided');
    const page = await fixture.signedInPage();
    await rowFor(page, event.externalId).waitFor();

    // The event type filter set (sent with Enter), then a search typed and not sent.
    const type = page.getByLabel('Event type');
    await type.fill('invoice.voided');
    await type.press('Enter');
    await waitFor('the event type in the URL', () => page.url().includes('eventType=invoice.voided'));
    const search = page.getByLabel('Search');
    await search.fill('typed_not_sent');

    // Both fields read in one step.
    const both = () => page.evaluate<[string, string]>(`[document.getElementById('filter-q').value, document.getElementById('filter-type').value]`);
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await waitFor('the filters gone from the URL', () => !page.url().includes('?'));
    await waitFor('both fields empty', async () => {
      const [q, eventType] = await both();
      return q === '' && eventType === '';
    });
    expect(fixture.pageErrors).toEqual([]);
    await page.close();
  });
});
