import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page } from 'playwright-core';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * The events list keeps its filters in the URL so that "links can be shared and bookmarked" (console/src/router.ts).
 * A custom "Received" range is kept as the datetime-local values, with no time zone: the same link opened by an
 * operator in another time zone lists other events. Here an operator in Berlin filters 11:30–12:30 (their time) and
 * sees the event received at 10:00 UTC; a colleague in New York opens the same link and gets "No event matches".
 */

jest.setTimeout(120_000);

let fixture: ConsoleFixture;

const externalIds = (page: Page) => page.locator('table.events-table tbody tr td:nth-child(6)').allTextContents();

describeBrowser('a shared link with a custom received range', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({ token: 'adm_range_tz_8d1c', service: 'in-process', env: { SERVICE_ROLE: 'ingress' } });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('lists the same events wherever the link is opened', async () => {
    const body = '{"id":"evt_tz_1"}';
    await fixture.db.pool.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, received_at)
       VALUES ('stripe', 'evt_tz_1', 'invoice.paid', $1::jsonb, $2, 'application/json', 'COMPLETED', '2026-06-01T10:00:00Z')`,
      [body, Buffer.from(body)],
    );

    // Berlin (UTC+2 in June): 11:30–12:30 local is 09:30–10:30 UTC, which holds the event.
    const berlin = await fixture.signedInPage({ timezoneId: 'Europe/Berlin' });
    await berlin.goto(`${fixture.baseUrl}/console#/events?range=custom&from=2026-06-01T11:30:00&to=2026-06-01T12:30:00`);
    await waitFor('the event listed in Berlin', async () => (await externalIds(berlin)).includes('evt_tz_1'), { timeoutMs: 20_000, intervalMs: 100 });
    const shared = berlin.url();

    // The colleague in New York opens the link they were sent.
    const newYork = await fixture.signedInPage({ timezoneId: 'America/New_York' });
    await newYork.goto(shared);
    await waitFor('the list loaded in New York', async () => (await externalIds(newYork)).length > 0 || (await newYork.getByText('No event matches these filters.').count()) > 0, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    expect(await externalIds(newYork)).toEqual(['evt_tz_1']);
  });
});
