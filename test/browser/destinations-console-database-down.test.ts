import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * A pause sent from the Destinations view while PostgreSQL does not answer is not recorded: the API answers 503
 * "Storage is temporarily unavailable" with `Retry-After`. The view read every 503 as "recorded but not yet in effect"
 * (Redis not answering, a 503 without Retry-After: not to be sent again) and showed "Pause of crm: …", no failure: the
 * operator waited for a pause that never came while deliveries went on. It now says the pause failed, and a second
 * click once PostgreSQL answers pauses the destination.
 */

jest.setTimeout(120_000);

let fixture: ConsoleFixture;
const postgres = new TcpProxy('127.0.0.1', 5432);

describeBrowser('the Destinations view while PostgreSQL does not answer', () => {
  beforeAll(async () => {
    await postgres.start();
    fixture = await startConsoleFixture({
      token: 'adm_destinations_database_down_3f9a',
      databasePort: postgres.port,
      routes: (sinkUrl) => ({ destinations: { crm: { url: `${sinkUrl}/crm` } }, routes: [{ provider: 'stripe', to: ['crm'] }] }),
      env: { POD_DELETION_COST_ENABLED: 'false' },
    });
  }, 120_000);

  afterAll(async () => {
    await fixture?.close();
    await postgres.stop();
  });

  it('a pause PostgreSQL did not record is shown as failed, and pauses once sent again after it answers', async () => {
    const page = await fixture.signedInPage();
    await page.getByRole('link', { name: 'Destinations' }).click();
    await page.getByRole('button', { name: 'Pause crm' }).waitFor();

    await postgres.stop();
    await page.getByRole('button', { name: 'Pause crm' }).click();
    const message = page.locator('p.error', { hasText: 'crm' });
    await message.waitFor({ timeout: 60_000 });
    const text = (await message.textContent()) ?? '';
    // Before: "Pause of crm: Storage is temporarily unavailable; retry later", read as recorded.
    expect(text).toContain('Pausing crm failed:');
    expect(text).not.toContain('Pause of crm:');

    await postgres.restart();
    await waitFor(
      'a second pause to be recorded once PostgreSQL answers',
      async () => {
        await page.getByRole('link', { name: 'Destinations' }).click();
        if ((await page.getByRole('button', { name: 'Resume crm' }).count()) === 1) return true;
        const pause = page.getByRole('button', { name: 'Pause crm' });
        if ((await pause.count()) === 1) await pause.click();
        return false;
      },
      { timeoutMs: 60_000, intervalMs: 2000 },
    );
    await page.close();
  });
});
