import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { startOfABudgetWindow } from '../support/admin-budget.js';
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

describeBrowser('signing in past the wrong-token budget', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', env: { SERVICE_ROLE: 'ingress', ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE: String(LIMIT) } });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('the sign-in page says the address must wait, with the seconds, even for the right token', async () => {
    // The budget's windows are fixed minutes: start where this one has at least 15 s left, so the steps share it.
    await startOfABudgetWindow(fixture.baseUrl, { needSeconds: 15 });

    const page = await fixture.newPage();
    await page.goto(`${fixture.baseUrl}/console`);
    const field = page.getByLabel('Admin token');
    const alert = page.getByRole('alert');
    for (let i = 0; i < LIMIT; i++) {
      await field.fill(`wrong-${i}`);
      await field.press('Enter');
      await alert.filter({ hasText: 'That token was not accepted' }).waitFor();
      // Typed as a user would, as soon as the field takes it: the next fill waits for the field to be enabled again (it
      // is disabled while a sign-in is under way), and the refused token is gone from it by then (sign-in-typed-after-refusal).
    }
    await field.fill(TOKEN);
    await field.press('Enter');
    await alert.filter({ hasText: 'Too many admin requests' }).waitFor();
    expect(await alert.textContent()).toMatch(/^Too many admin requests with a wrong token from this address; try again in \d+ s$/);
    expect(await page.getByRole('heading', { name: 'Events', level: 1 }).count()).toBe(0);
    await page.close();
  });
});
