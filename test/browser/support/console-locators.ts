import type { Page } from 'playwright-core';

/** The events table's body rows. */
export const rows = (page: Page) => page.locator('table.events-table tbody tr');

/** The row of the event with this provider id. */
export const rowFor = (page: Page, externalId: string) => rows(page).filter({ hasText: externalId });

/** A visible notice (its text is also announced in the live region, which getByText would find too). */
export const notice = (page: Page, text: string | RegExp) => page.locator('p.notice', { hasText: text });

/**
 * Switches the Events view's "Live updates" checkbox, clicking again until it holds: on a loaded machine a click
 * right after sign-in was once taken without changing the box (playwright's uncheck then throws "Clicking the
 * checkbox did not change its state" and does not try again).
 */
export async function setLiveUpdates(page: Page, on: boolean): Promise<void> {
  const box = page.getByRole('checkbox', { name: 'Live updates' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await box.setChecked(on, { timeout: 5_000 });
      return;
    } catch (error) {
      if ((await box.isChecked()) === on) return;
      if (Date.now() > deadline) throw error;
    }
  }
}
