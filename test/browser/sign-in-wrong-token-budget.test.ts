import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import http from 'node:http';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * Past ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE wrong tokens from one address, the admin API answers 429 for the rest of
 * the minute, the right token included. The sign-in page must say so (and when to try again) instead of "That token
 * was not accepted", which would send the operator checking a token that is right.
 */

const TOKEN = 'adm_sign_in_budget_7f3c';
const LIMIT = 2;
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

/** The Retry-After of a 429 earned from the loopback address 127.0.0.9 (its own budget), or undefined on a 401. */
function probe(): Promise<{ status: number; retryAfter: number }> {
  return new Promise((resolve, reject) => {
    const url = new URL(fixture.baseUrl);
    const req = http.request(
      { host: url.hostname, port: url.port, path: '/admin/events?limit=1', localAddress: '127.0.0.9', agent: false, headers: { authorization: 'Bearer probe' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, retryAfter: Number(res.headers['retry-after']) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describeBrowser('signing in past the wrong-token budget', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', env: { SERVICE_ROLE: 'ingress', ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE: String(LIMIT) } });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('the sign-in page says the address must wait, with the seconds, even for the right token', async () => {
    // The budget's windows are fixed minutes: start where this one has at least 15 s left, so the steps share it.
    let answer = await probe();
    for (let i = 0; answer.status === 401 && i < 10; i++) answer = await probe();
    expect(answer.status).toBe(429);
    if (answer.retryAfter < 15) await new Promise((resolve) => setTimeout(resolve, (answer.retryAfter + 1) * 1000));

    const page = await fixture.newPage();
    await page.goto(`${fixture.baseUrl}/console`);
    const field = page.getByLabel('Admin token');
    const alert = page.getByRole('alert');
    for (let i = 0; i < LIMIT; i++) {
      await field.fill(`wrong-${i}`);
      await field.press('Enter');
      await expect(alert.textContent()).resolves.toContain('That token was not accepted');
      // The next fill waits for the field to be enabled again (it is disabled while a sign-in is under way).
    }
    await field.fill(TOKEN);
    await field.press('Enter');
    await alert.filter({ hasText: 'Too many admin requests' }).waitFor();
    expect(await alert.textContent()).toMatch(/^Too many admin requests with a wrong token from this address; try again in \d+ s$/);
    expect(await page.getByRole('heading', { name: 'Events', level: 1 }).count()).toBe(0);
    await page.close();
  });
});
