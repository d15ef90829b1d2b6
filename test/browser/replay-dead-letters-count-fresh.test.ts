import type { Page, Route } from 'playwright-core';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { notice } from './support/console-locators.js';

/**
 * The "Replay dead letters?" dialog counted the dead letters once, when it opened (or its provider changed), and never
 * again: left open while dead letters arrived, or were replayed elsewhere, it went on offering "Replay 1" and the
 * operator confirmed a number that was no longer true (the service replays what the filter finds when the request
 * comes). The dialog now counts again while it is open (every 4 s, as the live list), and counts once more when the
 * replay is confirmed: a number that changed since is shown and asked again, not sent; one that cannot be counted then
 * is not sent either.
 */

const TOKEN = 'adm_replay_dead_count_fresh_3f7b';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;

const deadLetter = (id: string) => fixture.db.pool.query(`UPDATE webhook_events SET status = 'DEAD_LETTER' WHERE id = $1`, [id]);

/** The dialog's count for `provider` (not the view's counts, which have no provider filter here). */
const dialogCount = (provider: string) => (url: URL) => url.pathname.endsWith('/admin/events/counts') && url.searchParams.get('provider') === provider;

async function openDialogFor(page: Page, provider: string) {
  await page.getByRole('button', { name: 'Replay all dead letters…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Replay dead letters?' });
  await waitFor(`${provider} in the provider list`, async () => (await dialog.getByRole('option', { name: provider }).count()) === 1);
  const counted = page.waitForResponse((response) => dialogCount(provider)(new URL(response.url())) && response.status() === 200);
  await dialog.getByLabel('Provider').selectOption(provider);
  return { dialog, counted: await counted };
}

describeBrowser('the replay-dead-letters dialog left open while the dead letters change', () => {
  beforeAll(async () => {
    // Ingress only: nothing processes the events, the test makes them dead letters itself.
    fixture = await startConsoleFixture({
      token: TOKEN,
      service: 'in-process',
      githubSecret: 'gh-replay-dead-count-fresh',
      stripeSecret: 'whsec_replay_dead_count_fresh',
      env: { SERVICE_ROLE: 'ingress' },
    });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('counts again while it is open', async () => {
    const first = await fixture.sendGithub();
    const second = await fixture.sendGithub();
    await deadLetter(first.id);
    const page = await fixture.signedInPage();
    const { dialog } = await openDialogFor(page, 'github');
    await dialog.getByRole('button', { name: 'Replay 1' }).waitFor();

    // Another dead letter arrives while the dialog is open.
    await deadLetter(second.id);

    // Fails without the fix: the dialog goes on offering "Replay 1".
    const confirm = dialog.locator('button[type=submit]');
    await waitFor('the new dead letter counted', async () => {
      if ((await dialog.getByRole('button', { name: 'Replay 2' }).count()) === 1) return true;
      throw new Error(`the dialog offers ${JSON.stringify(await confirm.textContent())}`);
    });
    await dialog.getByText(/^2 dead letters go back/).waitFor();
    await page.close();
  });

  it('counts again when the replay is confirmed, and asks again when the number changed', async () => {
    const first = await fixture.sendStripe('invoice.payment_failed');
    const second = await fixture.sendStripe('invoice.payment_failed');
    await deadLetter(first.id);
    const page = await fixture.signedInPage();
    const replays: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname.endsWith('/admin/events/replay')) replays.push(request.postData() ?? '');
    });
    const { dialog, counted } = await openDialogFor(page, 'stripe');
    const confirm = dialog.locator('button[type=submit]');
    await dialog.getByRole('button', { name: 'Replay 1' }).waitFor();

    // The dialog's counts while it is open answer what it first read, as though the second dead letter came in the
    // moment before the click, too late for a count made while open; the count made once the replay is confirmed
    // (the button then says "Working…") goes to the service, and so do all after it.
    const stale = await counted.text();
    let held = true;
    const hold = async (route: Route) => {
      if (held && !(await confirm.textContent())?.includes('Working')) return route.fulfill({ status: 200, contentType: 'application/json', body: stale });
      held = false;
      return route.continue();
    };
    await page.route(dialogCount('stripe'), hold);
    await deadLetter(second.id);

    await dialog.getByRole('button', { name: 'Replay 1' }).click();
    // Fails without the fix: the replay is sent at once, for 2 dead letters, the operator having confirmed 1.
    await waitFor('the fresh count shown, asked again', async () => {
      if ((await dialog.getByRole('button', { name: 'Replay 2' }).count()) === 1) return true;
      throw new Error(
        `the dialog is ${(await dialog.count()) ? `open, offering ${JSON.stringify(await confirm.textContent())}` : 'closed'}; replays sent: ${JSON.stringify(replays)}; ` +
          `notices: ${JSON.stringify(await page.locator('p.notice').allTextContents())}`,
      );
    });
    expect(replays).toEqual([]);
    expect(await dialog.locator('.count-changed').textContent()).toBe('Nothing replayed yet: the count changed from 1 to 2 since it was shown.');
    // The confirm button was disabled while it counted: the focus is on what changed, not lost.
    await waitFor('the focus on what changed', () => page.evaluate<string>('document.activeElement?.className ?? ""').then((name) => name.includes('count-changed')), { timeoutMs: 5_000 });
    await dialog.getByText(/^2 dead letters go back/).waitFor();

    // Confirmed again with the number as it is: sent.
    await dialog.getByRole('button', { name: 'Replay 2' }).click();
    await notice(page, 'Replay started for 2 dead letters of stripe.').waitFor();
    expect(replays).toHaveLength(1);
    await Promise.all([fixture.waitForStatus(first.id, 'PENDING'), fixture.waitForStatus(second.id, 'PENDING')]);
    await page.close();
  });

  it('when counting again fails: says the number is from before, and sends nothing it could not count', async () => {
    const dead = await fixture.sendGithub();
    await deadLetter(dead.id);
    const page = await fixture.signedInPage();
    const replays: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname.endsWith('/admin/events/replay')) replays.push(request.postData() ?? '');
    });
    const { dialog, counted } = await openDialogFor(page, 'github');
    const shown = (await counted.json()) as { counts: { DEAD_LETTER: number } };
    const label = `Replay ${shown.counts.DEAD_LETTER}`;
    await dialog.getByRole('button', { name: label }).waitFor();

    // The service stops answering the count (Retry-After: the poll waits, "Retry now" is not pressed).
    const refuse = (route: Route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        headers: { 'Retry-After': '600' },
        body: JSON.stringify({ statusCode: 503, timestamp: new Date().toISOString(), path: '/admin/events/counts', message: 'Storage is temporarily unavailable; retry later', correlationId: 'c', traceId: null }),
      });
    await page.route(dialogCount('github'), refuse);
    const alert = dialog.getByRole('alert');
    await alert.filter({ hasText: 'Could not count the dead letters again' }).waitFor({ timeout: 15_000 });
    expect(await alert.textContent()).toContain('Storage is temporarily unavailable; retry later');
    // The number from before stays offered: the confirm counts again before anything is sent.
    expect(await dialog.getByRole('button', { name: label }).isEnabled()).toBe(true);

    await dialog.getByRole('button', { name: label }).click();
    await page.locator('p.error', { hasText: 'Replay not sent: could not count the dead letters again: Storage is temporarily unavailable' }).waitFor();
    expect(await dialog.count()).toBe(0);
    expect(replays).toEqual([]);
    expect(await fixture.statusOf(dead.id)).toBe('DEAD_LETTER');
    await page.close();
  });

  it('keeps the provider while the confirm counts again and sends (found by review: it could be changed meanwhile)', async () => {
    const dead = await fixture.sendGithub();
    await deadLetter(dead.id);
    const page = await fixture.signedInPage();
    const { dialog, counted } = await openDialogFor(page, 'github');
    const shown = (await counted.json()) as { counts: { DEAD_LETTER: number } };
    const confirm = dialog.locator('button[type=submit]');
    await dialog.getByRole('button', { name: `Replay ${shown.counts.DEAD_LETTER}` }).waitFor();

    // The count made once the replay is confirmed waits until the test has looked at the provider list.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    await page.route(dialogCount('github'), async (route) => {
      if ((await confirm.textContent())?.includes('Working')) await released;
      return route.continue().catch(() => undefined);
    });
    await confirm.click();
    await waitFor('the confirm under way', async () => (await confirm.textContent())?.includes('Working') === true);
    // Fails without the fix: the list could be changed while the replay for github was on its way.
    const disabled = await dialog.getByLabel('Provider').isDisabled();
    release();
    expect(disabled).toBe(true);
    await notice(page, /^Replay started for \d+ dead letters? of github\.$/).waitFor();
    await page.close();
  });

  it('had no page error', () => {
    expect(fixture.pageErrors).toEqual([]);
  });
});
