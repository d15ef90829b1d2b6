import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page } from 'playwright-core';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture, type SentEvent } from './support/console-fixture.js';
import { rowFor, rows } from './support/console-locators.js';
import { holdableHashchange, type HeldHashchange } from './support/held-hashchange.js';

/**
 * What the operator does in the events list's filters between sending a change (it goes into the URL) and the view's
 * rendering of that URL is kept: text typed into the search field after Enter, and a filter changed just before
 * (the next change builds on the URL's filters, not on those last rendered). The URL's update is held by the test
 * (see held-hashchange.ts), so the moment in between is there every run, not only on a loaded machine.
 */

const TOKEN = 'adm_filter_meanwhile_3b81';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;
let target: SentEvent;
let other: SentEvent;

/** A signed-in page whose URL updates the test can hold, showing both events. */
async function openList(): Promise<{ page: Page; held: HeldHashchange }> {
  const page = await fixture.newPage();
  const held = await holdableHashchange(page);
  await fixture.signIn(page);
  await rowFor(page, target.externalId).waitFor();
  await rowFor(page, other.externalId).waitFor();
  return { page, held };
}

/** The list shows the target's row alone: the search for it ran. */
const searchRan = async (page: Page) => (await rows(page).count()) === 1 && (await rowFor(page, target.externalId).count()) === 1;

describeBrowser('events filters changed while the URL update is on its way', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', stripeSecret: 'whsec_filter_meanwhile' });
    target = await fixture.sendStripe('invoice.paid');
    other = await fixture.sendStripe('invoice.paid');
  }, 120_000);

  afterAll(() => fixture?.close());

  it('keeps the text typed into the search field after Enter, and runs the search that was sent', async () => {
    const { page, held } = await openList();
    const search = page.getByLabel('Search');
    await held.hold();
    await search.focus();
    await page.keyboard.type(target.externalId);
    await page.keyboard.press('Enter');
    // Sent: in the URL, its rendering held.
    await waitFor('the search in the URL, its update held', async () => page.url().includes(`q=${target.externalId}`) && (await held.waiting()) > 0);
    await page.keyboard.type(' and more');
    expect(await search.inputValue()).toBe(`${target.externalId} and more`);

    await held.release();
    await waitFor('the search that was sent run', () => searchRan(page));
    // The view rendered the URL's search (the list is down to its row): the text typed after Enter is still there.
    expect(await search.inputValue()).toBe(`${target.externalId} and more`);
    expect(page.url()).toContain(`q=${target.externalId}`);
    expect(page.url()).not.toContain('more');
    expect(fixture.pageErrors).toEqual([]);
    await page.close();
  });

  it('a search sent right after a range was picked keeps the range (built on the URL, not on the filters last rendered)', async () => {
    const { page, held } = await openList();
    await held.hold();
    await page.getByLabel('Received').selectOption('1h');
    await waitFor('the range in the URL', () => page.url().includes('range=1h'));
    await page.getByLabel('Search').fill(target.externalId);
    await page.getByLabel('Search').press('Enter');
    await waitFor('the search in the URL', () => page.url().includes(`q=${target.externalId}`));
    await held.release();
    await waitFor('the search run', () => searchRan(page));

    const params = new URLSearchParams(new URL(page.url()).hash.split('?')[1] ?? '');
    expect(Object.fromEntries(params)).toEqual({ q: target.externalId, range: '1h' });
    expect(await page.getByLabel('Received').inputValue()).toBe('1h');
    expect(await page.getByLabel('Search').inputValue()).toBe(target.externalId);
    expect(fixture.pageErrors).toEqual([]);
    await page.close();
  });
});
