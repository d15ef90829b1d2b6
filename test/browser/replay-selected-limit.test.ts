import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page, Route } from 'playwright-core';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * Review reproduction (rev-admin): "Replay selected" with more events selected than the API takes.
 *
 * POST /admin/events/replay {"ids"} takes 1–500 ids (MAX_REPLAY_IDS). The Events view lets "Load more" grow the list
 * past 500 and "Select all shown events" select every loaded one; the dialog then offers "Replay 520" and sends all
 * 520 ids in one request, which is refused (400 "ids: Too big…"): the operator gets "Replay failed" and nothing is
 * replayed. Expected: the console sends them in batches of at most 500 (or caps the selection and says so).
 */

jest.setTimeout(120_000);

let fixture: ConsoleFixture;

/** Inserts `n` dead letters of `provider`, received one second apart. */
const insertDeadLetters = (provider: string, n: number) =>
  fixture.db.pool.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, received_at, updated_at)
     SELECT $1, 'evt_limit_' || $1 || '_' || g, 'invoice.paid', '{}', '\\x7b7d', 'application/json', 'DEAD_LETTER',
            now() - g * interval '1 second', now()
       FROM generate_series(1, $2::int) g`,
    [provider, n],
  );

/** Signs in, lists the dead letters of `provider`, loads all 520 and selects them. */
async function selectAllDeadLetters(page: Page, provider: string) {
  await fixture.signIn(page);
  await page.goto(`${fixture.baseUrl}/console#/events?status=DEAD_LETTER&provider=${provider}`);
  await page.getByText('Showing 50 events', { exact: true }).waitFor();
  for (let shown = 100; shown <= 550; shown += 50) {
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.getByText(`Showing ${Math.min(shown, 520)} events`, { exact: true }).waitFor();
  }
  await page.getByRole('checkbox', { name: 'Select all shown events' }).check();
}

const pendingOf = async (provider: string) =>
  (await fixture.db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE status = 'PENDING' AND provider = $1`, [provider])).rows[0].n as number;

describeBrowser('Replay selected with more than 500 events selected', () => {
  beforeAll(async () => {
    // Ingress only: no worker takes the replayed events, so what the replay did stays visible in the table.
    fixture = await startConsoleFixture({ token: 'adm_replay_selected_limit_93b1', service: 'in-process', env: { SERVICE_ROLE: 'ingress' } });
    await insertDeadLetters('stripe', 520);
  }, 120_000);

  afterAll(() => fixture?.close());

  it('replays all 520 selected dead letters', async () => {
    const page = await fixture.newPage();
    await selectAllDeadLetters(page, 'stripe');
    await page.getByRole('button', { name: 'Replay selected (520)' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Replay 520' }).click();
    const outcome = page.locator('.toolbar p.notice, .toolbar p.error');
    await outcome.waitFor();
    // Fails now: "Replay failed: ids: Too big: expected array to have <=500 items".
    expect(await outcome.textContent()).toBe('Replay started for 520 events.');
    expect(await pendingOf('stripe')).toBe(520);
    await page.close();
  });

  it('shows its progress batch by batch, and when a later batch fails says what was replayed and keeps the rest selected', async () => {
    await insertDeadLetters('github', 520);
    const page = await fixture.newPage();
    await selectAllDeadLetters(page, 'github');
    // The first batch goes through; the second is held, then refused as a service unavailable would be.
    const batches: number[] = [];
    let releaseSecond!: () => void;
    const secondHeld = new Promise<void>((resolve) => (releaseSecond = resolve));
    await page.route('**/admin/events/replay', async (route: Route) => {
      const ids = (route.request().postDataJSON() as { ids: string[] }).ids;
      batches.push(ids.length);
      if (batches.length === 1) return route.continue();
      await secondHeld;
      return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ statusCode: 503, message: 'Storage is temporarily unavailable; retry later' }) });
    });
    await page.getByRole('button', { name: 'Replay selected (520)' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('They are sent in 2 batches of up to 500, one after the other.').waitFor();
    await dialog.getByRole('button', { name: 'Replay 520' }).click();
    await dialog.getByText('Sending… 500 of 520 sent').waitFor();
    expect(await dialog.getByRole('progressbar', { name: 'Events sent' }).getAttribute('value')).toBe('500');
    releaseSecond();
    const outcome = page.locator('.toolbar p.error');
    await outcome.waitFor();
    expect(await outcome.textContent()).toBe(
      'Replay stopped partway: 500 events were replayed, but the other 20 events were not sent (Storage is temporarily unavailable; retry later). They are still selected: replay them again.',
    );
    expect(batches).toEqual([500, 20]);
    expect(await pendingOf('github')).toBe(500);
    // The 20 not sent stay selected, ready to be sent again.
    await page.getByRole('button', { name: 'Replay selected (20)' }).waitFor();
    await page.close();
  });
});
