import type { Page } from 'playwright-core';

/** The events table's body rows. */
export const rows = (page: Page) => page.locator('table.events-table tbody tr');

/** The row of the event with this provider id. */
export const rowFor = (page: Page, externalId: string) => rows(page).filter({ hasText: externalId });

/** A visible notice (its text is also announced in the live region, which getByText would find too). */
export const notice = (page: Page, text: string) => page.locator('p.notice', { hasText: text });
