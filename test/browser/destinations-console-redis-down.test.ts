import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * A pause sent from the Destinations view while Redis does not answer is recorded (PostgreSQL) and takes effect once
 * Redis answers (the workers copy it within 5 s): the API answers 503 saying so. The view showed it as
 * "Pausing crm failed: Recorded, but not yet in effect …", and the API's text ended "try again": an operator read a
 * failure and sent it again. It now reads as what it is, and the pause shows once Redis is back, without a second click.
 */

jest.setTimeout(120_000);

let fixture: ConsoleFixture;
const redis = new TcpProxy('127.0.0.1', 6379);

describeBrowser('the Destinations view while Redis does not answer', () => {
  beforeAll(async () => {
    await redis.start();
    fixture = await startConsoleFixture({
      token: 'adm_destinations_redis_down_7c1e',
      redisPort: redis.port,
      routes: (sinkUrl) => ({ destinations: { crm: { url: `${sinkUrl}/crm` } }, routes: [{ provider: 'stripe', to: ['crm'] }] }),
      env: { POD_DELETION_COST_ENABLED: 'false' },
    });
  }, 120_000);

  afterAll(async () => {
    await fixture?.close();
    await redis.stop();
  });

  it('a pause recorded but not yet in effect is not shown as a failure, and shows as paused once Redis answers', async () => {
    const page = await fixture.signedInPage();
    await page.getByRole('link', { name: 'Destinations' }).click();
    await page.getByRole('button', { name: 'Pause crm' }).waitFor();

    await redis.stop();
    await page.getByRole('button', { name: 'Pause crm' }).click();
    const message = page.locator('p.error', { hasText: 'Recorded, but not yet in effect' });
    await message.waitFor();
    const text = (await message.textContent()) ?? '';
    expect(text).toContain('Pause of crm:');
    expect(text).toContain('no need to send it again');
    expect(text).not.toMatch(/failed|try again/);

    await redis.restart();
    await waitFor(
      'the view to show crm paused without a second click',
      async () => {
        await page.getByRole('link', { name: 'Destinations' }).click();
        return (await page.getByRole('button', { name: 'Resume crm' }).count()) === 1;
      },
      { timeoutMs: 40_000, intervalMs: 1000 },
    );
    await page.close();
  });
});
