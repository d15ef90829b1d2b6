import type { Route } from 'playwright-core';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * The "Replay dead letters?" dialog counts what it is about to replay. When that count's request failed, the dialog
 * went on saying "Counting dead letters…" with its "Replay" button enabled: the failure was never shown (the other
 * views show theirs, with the time of the next try), and the operator could replay an unknown number of dead letters
 * blind. It now says the count failed, with "Retry now", and offers no replay until it has the count.
 */

const TOKEN = 'adm_replay_dead_count_failed_2d9c';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

describeBrowser('the replay-dead-letters dialog when its count fails', () => {
  beforeAll(async () => {
    // Ingress only: nothing processes the event, the test makes it a dead letter itself.
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', githubSecret: 'gh-replay-dead-count-failed', env: { SERVICE_ROLE: 'ingress' } });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('shows the failure and offers no replay until the count arrives', async () => {
    const dead = await fixture.sendGithub();
    await fixture.db.pool.query(`UPDATE webhook_events SET status = 'DEAD_LETTER' WHERE id = $1`, [dead.id]);
    const page = await fixture.signedInPage();
    const replays: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname.endsWith('/admin/events/replay')) replays.push(request.url());
    });

    // github's count fails, as when PostgreSQL does not answer; the rest of the console loads.
    const failing = (url: URL) => url.pathname.endsWith('/admin/events/counts') && url.searchParams.get('provider') === 'github';
    const refuse = (route: Route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        headers: { 'Retry-After': '600' },
        body: JSON.stringify({ statusCode: 503, timestamp: new Date().toISOString(), path: '/admin/events/counts', message: 'Storage is temporarily unavailable; retry later', correlationId: 'c', traceId: null }),
      });
    await page.route(failing, refuse);

    await page.getByRole('button', { name: 'Replay all dead letters…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay dead letters?' });
    await waitFor('github in the provider list', async () => (await dialog.getByRole('option', { name: 'github' }).count()) === 1);
    const counted = page.waitForResponse((response) => failing(new URL(response.url())));
    await dialog.getByLabel('Provider').selectOption('github');
    await counted;

    // Fails without the fix: the dialog still says "Counting dead letters…" and its "Replay" button is enabled.
    const alert = dialog.getByRole('alert');
    const confirm = dialog.locator('button[type=submit]');
    await waitFor('the failed count shown in the dialog', async () => {
      if ((await alert.count()) === 1) return true;
      // What the dialog shows instead, for the failure's message.
      throw new Error(`no alert; the dialog says ${JSON.stringify((await dialog.locator('.dialog__body p').allTextContents()).join(' '))}, its button ${JSON.stringify(await confirm.textContent())} ${(await confirm.isDisabled()) ? 'disabled' : 'enabled'}`);
    });
    expect(await alert.textContent()).toContain('Storage is temporarily unavailable; retry later');
    expect(await dialog.getByText('Counting dead letters…').count()).toBe(0);
    expect(await confirm.isDisabled()).toBe(true);
    expect(replays).toEqual([]);

    // The service answers again: "Retry now" counts at once, and the replay is offered with its number.
    await page.unroute(failing, refuse);
    await dialog.getByRole('button', { name: 'Retry now' }).click();
    await dialog.getByText(/^1 dead letter goes back/).waitFor();
    expect(await dialog.getByRole('alert').count()).toBe(0);
    expect(await dialog.getByRole('button', { name: 'Replay 1' }).isEnabled()).toBe(true);
    await page.close();
  });
});
