import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { afterRendering } from './support/after-rendering.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * After a refused token, the sign-in field is emptied while it is still disabled (the sign-in under way), in the same
 * step that shows the refusal: a token typed as soon as the field is enabled again is the one Enter sends. Emptied
 * later, in an effect after the answer, it took that token with it, and Enter sent nothing ("Enter the admin token").
 */

const TOKEN = 'adm_sign_in_typed_after_refusal_6c0e';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

/**
 * Types `token` into the sign-in field the moment it is enabled again after being disabled (a sign-in under way): a
 * MutationObserver's callback runs right after the page's rendering step that enabled it, before anything the page
 * scheduled for later. The fastest typist there is, every run.
 */
const typeOnceReEnabled = (token: string) => `(() => {
  const observer = new MutationObserver(() => {
    const field = document.getElementById('admin-token');
    if (!field) return;
    if (field.disabled) { field.dataset.wasDisabled = 'yes'; return; }
    if (field.dataset.wasDisabled !== 'yes') return;
    observer.disconnect();
    field.focus();
    field.value = ${JSON.stringify(token)};
    field.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertText', data: ${JSON.stringify(token)} }));
  });
  observer.observe(document, { subtree: true, attributes: true, attributeFilter: ['disabled'] });
})()`;

describeBrowser('signing in with a token typed right after a refusal', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process' });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('sends the token typed once the field is enabled again, not an emptied field', async () => {
    const page = await fixture.newPage();
    await page.goto(`${fixture.baseUrl}/console`);
    const field = page.getByLabel('Admin token');
    await field.fill('wrong-token');
    await page.evaluate(typeOnceReEnabled(TOKEN));
    await field.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'That token was not accepted' }).waitFor();
    // The refusal's rendering done and its effects run (where the field was emptied after it was enabled again).
    await afterRendering(page);
    expect(await field.inputValue()).toBe(TOKEN);
    await field.press('Enter');
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    expect(fixture.pageErrors).toEqual([]);
    await page.close();
  });
});
