import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { rowFor } from './support/console-locators.js';

/**
 * "Replay selected" switches Live updates back on once it is done, so the list shows the replayed events as they
 * are now; "Replay all dead letters" did not: with live updates off, the list went on showing the replayed dead
 * letters as dead letters until the operator refreshed it. Both now switch them back on.
 */

const TOKEN = 'adm_replay_dead_live_on_7c1e';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

describeBrowser('"Replay all dead letters" with live updates off', () => {
  beforeAll(async () => {
    // Ingress only: nothing processes the event, so once replayed it stays Pending.
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', githubSecret: 'gh-replay-dead-live-on', env: { SERVICE_ROLE: 'ingress' } });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('switches live updates back on, and the list shows the replayed dead letter as pending', async () => {
    const dead = await fixture.sendGithub();
    await fixture.db.pool.query(`UPDATE webhook_events SET status = 'DEAD_LETTER' WHERE id = $1`, [dead.id]);
    const page = await fixture.signedInPage();
    const row = rowFor(page, dead.externalId);
    await row.getByText('Dead letter').waitFor();
    const live = page.getByRole('checkbox', { name: 'Live updates' });
    await live.uncheck();

    await page.getByRole('button', { name: 'Replay all dead letters…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay dead letters?' });
    await dialog.getByRole('button', { name: 'Replay 1' }).click();
    await page.locator('p.notice', { hasText: 'Replay started for 1 dead letter.' }).waitFor();
    await fixture.waitForStatus(dead.id, 'PENDING');

    // Fails without the fix: live updates stay off, and the row still says "Dead letter".
    await waitFor('live updates on again', async () => live.isChecked(), { timeoutMs: 10_000 });
    await row.getByText('Pending').waitFor({ timeout: 30_000 });
    expect(await row.getByText('Dead letter').count()).toBe(0);
    await page.close();
  });

  it('had no page error', () => {
    expect(fixture.pageErrors).toEqual([]);
  });
});
