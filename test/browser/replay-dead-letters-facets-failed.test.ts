import type { Route } from 'playwright-core';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rowFor } from './support/console-locators.js';

/**
 * The "Replay dead letters?" dialog offers its providers from the events view's facets (GET /admin/events/facets).
 * When that request failed, the view said so (events-facets-failed) but the dialog did not: its provider list
 * offered only "All providers", as though there were no providers, and the view's "Retry now" was behind the modal
 * dialog, out of reach. The dialog now says the providers could not be loaded, when they are tried again, and has a
 * "Retry now" of its own.
 */

const TOKEN = 'adm_replay_dead_facets_failed_8e4a';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

describeBrowser('the replay-dead-letters dialog when the providers fail to load', () => {
  beforeAll(async () => {
    // Ingress only: nothing processes the event, the test makes it a dead letter itself.
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', githubSecret: 'gh-replay-dead-facets-failed', env: { SERVICE_ROLE: 'ingress' } });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('says the providers could not be loaded, and offers them once its "Retry now" succeeds', async () => {
    const dead = await fixture.sendGithub();
    await fixture.db.pool.query(`UPDATE webhook_events SET status = 'DEAD_LETTER' WHERE id = $1`, [dead.id]);
    const page = await fixture.newPage();
    const facets = (url: URL) => url.pathname.endsWith('/admin/events/facets');
    const refuse = (route: Route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        headers: { 'Retry-After': '600' },
        body: JSON.stringify({ statusCode: 503, timestamp: new Date().toISOString(), path: '/admin/events/facets', message: 'Storage is temporarily unavailable; retry later', correlationId: 'c', traceId: null }),
      });
    await page.route(facets, refuse);
    const failed = page.waitForResponse((response) => facets(new URL(response.url())) && response.status() === 503);
    await fixture.signIn(page);
    await failed;
    await rowFor(page, dead.externalId).waitFor();

    await page.getByRole('button', { name: 'Replay all dead letters…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay dead letters?' });
    // The count does not depend on the facets: the dialog is otherwise usable.
    await dialog.getByText(/^1 dead letter goes back/).waitFor();

    // Fails without the fix: no alert in the dialog, its provider list offers only "All providers".
    const alert = dialog.getByRole('alert').filter({ hasText: 'Could not load the providers' });
    const providerOptions = dialog.locator('#dead-provider option');
    await waitFor('the failed providers said in the dialog', async () => {
      if ((await alert.count()) === 1) return true;
      throw new Error(`no alert in the dialog; its provider list offers ${JSON.stringify(await providerOptions.allTextContents())}`);
    });
    expect(await alert.textContent()).toContain('Storage is temporarily unavailable; retry later');
    expect(await dialog.locator('.retry-note').count()).toBe(1);

    // The service answers again: the dialog's own "Retry now" fills its provider list, and the error goes.
    await page.unroute(facets, refuse);
    await dialog.getByRole('button', { name: 'Retry now' }).click();
    await waitFor('github offered in the dialog', async () => (await dialog.getByRole('option', { name: 'github' }).count()) === 1);
    await waitFor('the error gone from the dialog', async () => (await alert.count()) === 0);
    // Still the dialog the operator was in.
    expect(await dialog.isVisible()).toBe(true);
    await page.close();
  });

  it('had no page error', () => {
    expect(fixture.pageErrors).toEqual([]);
  });
});
