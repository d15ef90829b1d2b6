import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page } from 'playwright-core';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';
import { notice, rowFor } from './support/console-locators.js';

/**
 * Two operators replay the same dead letter: one opens the console's replay dialog, the other replays the event
 * meanwhile (another console, a script), and it completes, all before the first confirms. The dialog still says
 * "a dead letter, to the destinations that have not taken it yet"; confirming used to replay the event once more, now
 * a COMPLETED event: to every destination, billing taking it a second time. The console sends the replay round the
 * dialog showed (`replays`), and the service replays an event only while it is in that round: the event detail says
 * it was replayed since, "Replay selected" counts it skipped, and billing has it once.
 */

const TOKEN = 'adm_replay_two_operators_5e7a';
const STRIPE_SECRET = 'whsec_replay_two_operators_stripe';
jest.setTimeout(180_000);

let fixture: ConsoleFixture;
/** Whether billing refuses deliveries (503): on while the test makes its dead letters. */
let refusing = true;
const sink = new HttpSink(() => ({ status: refusing ? 503 : 200 }));
/** Requests billing refused, per event id (those of its dead letter's attempt). */
const refused = new Map<string, number>();
/** Deliveries billing took of the event. */
const taken = (id: string) => sink.requestsFor(id).length - refused.get(id)!;

const roundOf = async (id: string) => (await fixture.db.pool.query('SELECT status, replays FROM webhook_events WHERE id = $1', [id])).rows[0] as { status: string; replays: number };

/** An event that billing refused its only attempt of: a dead letter in round 0. */
async function deadLetter(): Promise<{ id: string; externalId: string }> {
  refusing = true;
  const event = await fixture.sendStripe('invoice.paid');
  await fixture.waitForStatus(event.id, 'DEAD_LETTER');
  refused.set(event.id, sink.requestsFor(event.id).length);
  return event;
}

/** Another operator replays the event, and billing takes it: COMPLETED in round 1. */
async function replayedByAnotherOperator(id: string) {
  refusing = false;
  expect((await adminRequest(fixture.baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`)).status).toBe(202);
  await waitFor('the other operator’s replay completed', async () => {
    const { status, replays } = await roundOf(id);
    return status === 'COMPLETED' && replays === 1;
  }, { timeoutMs: 30_000 });
  expect(taken(id)).toBe(1);
}

async function openEvents(page: Page) {
  await fixture.signIn(page);
  await page.goto(`${fixture.baseUrl}/console#/events?provider=stripe`);
  await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
}

describeBrowser('a replay confirmed after another operator replayed the event', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: TOKEN,
      service: 'in-process',
      stripeSecret: STRIPE_SECRET,
      sink,
      routes: (sinkUrl) => ({ destinations: { billing: { url: `${sinkUrl}/billing` } }, routes: [{ provider: 'stripe', to: ['billing'] }] }),
      env: { JOB_ATTEMPTS: '1', POD_DELETION_COST_ENABLED: 'false' },
    });
  }, 180_000);

  afterAll(() => fixture?.close());

  it('the event detail: 409, not a second delivery', async () => {
    const event = await deadLetter();
    const page = await fixture.newPage();
    await fixture.signIn(page);
    await page.goto(`${fixture.baseUrl}/console#/events/${event.id}`);
    await page.getByRole('button', { name: 'Replay event' }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay this event?' });
    await dialog.getByText('It is a dead letter').waitFor();

    await replayedByAnotherOperator(event.id);
    await dialog.getByRole('button', { name: 'Replay', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Replay failed: The event was replayed since replay round 0' }).waitFor({ timeout: 30_000 });
    // The detail reads the event again: it shows where it is now.
    await page.getByText('replayed 1×').waitFor({ timeout: 30_000 });
    expect(await roundOf(event.id)).toEqual({ status: 'COMPLETED', replays: 1 });
    expect(taken(event.id)).toBe(1);
  });

  it('"Replay selected": skipped, not a second delivery', async () => {
    const event = await deadLetter();
    const page = await fixture.newPage();
    await openEvents(page);
    const row = rowFor(page, event.externalId);
    await row.getByText('Dead letter').waitFor({ timeout: 30_000 });
    await row.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Replay selected (1)' }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay 1 selected event?' });
    await dialog.getByText('a dead letter to the destinations that have not taken it yet').waitFor();

    await replayedByAnotherOperator(event.id);
    await dialog.getByRole('button', { name: 'Replay 1' }).click();
    await notice(page, 'Replay started for 0 events; 1 skipped (in progress or replayed since they were selected).').waitFor({ timeout: 30_000 });
    expect(await roundOf(event.id)).toEqual({ status: 'COMPLETED', replays: 1 });
    expect(taken(event.id)).toBe(1);
  });

  it('the event detail, its replay sent again after its answer was lost: 409, not a second delivery', async () => {
    // As below for "Replay selected": the view refreshes after the failed replay and shows the event COMPLETED in its
    // new round; confirmed again with that round, the replay went through and billing took the event twice.
    const event = await deadLetter();
    refusing = false;
    const page = await fixture.newPage();
    await fixture.signIn(page);
    await page.goto(`${fixture.baseUrl}/console#/events/${event.id}`);
    const replayPath = `**/admin/events/${event.id}/replay`;
    await page.route(replayPath, async (route) => {
      await route.fetch();
      await route.abort('connectionreset');
    });
    await page.getByRole('button', { name: 'Replay event' }).click();
    await page.getByRole('dialog', { name: 'Replay this event?' }).getByRole('button', { name: 'Replay', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Replay failed: The service could not be reached' }).waitFor({ timeout: 30_000 });
    await page.unroute(replayPath);
    await waitFor('the replay whose answer was lost completed', async () => {
      const { status, replays } = await roundOf(event.id);
      return status === 'COMPLETED' && replays === 1;
    }, { timeoutMs: 30_000 });
    await page.getByText('replayed 1×').waitFor({ timeout: 30_000 });

    await page.getByRole('button', { name: 'Replay event' }).click();
    await page.getByRole('dialog', { name: 'Replay this event?' }).getByRole('button', { name: 'Replay', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Replay failed: The event was replayed since replay round 0' }).waitFor({ timeout: 30_000 });
    expect(await roundOf(event.id)).toEqual({ status: 'COMPLETED', replays: 1 });
    expect(taken(event.id)).toBe(1);
  });

  it('"Replay selected" sent again after its answer was lost: skipped, not a second delivery', async () => {
    // The service replays the batch, but its answer never reaches the console (a proxy's reset): the console says the
    // replay failed and keeps the event selected, "replay them again". The list refreshes meanwhile and shows the
    // event COMPLETED in its new round; sent with that round, the replay went through and billing took it twice.
    const event = await deadLetter();
    refusing = false;
    const page = await fixture.newPage();
    await openEvents(page);
    const row = rowFor(page, event.externalId);
    await row.getByText('Dead letter').waitFor({ timeout: 30_000 });
    await row.getByRole('checkbox').check();
    await page.route('**/admin/events/replay', async (route) => {
      await route.fetch();
      await route.abort('connectionreset');
    });
    await page.getByRole('button', { name: 'Replay selected (1)' }).click();
    await page.getByRole('dialog', { name: 'Replay 1 selected event?' }).getByRole('button', { name: 'Replay 1' }).click();
    await page.getByRole('alert').filter({ hasText: 'Replay failed: The service could not be reached' }).waitFor({ timeout: 30_000 });
    await page.unroute('**/admin/events/replay');
    await waitFor('the replay whose answer was lost completed', async () => {
      const { status, replays } = await roundOf(event.id);
      return status === 'COMPLETED' && replays === 1;
    }, { timeoutMs: 30_000 });
    expect(taken(event.id)).toBe(1);
    // The list shows it as it is now, still selected.
    await row.getByText('Completed').waitFor({ timeout: 30_000 });

    await page.getByRole('button', { name: 'Replay selected (1)' }).click();
    await page.getByRole('dialog', { name: 'Replay 1 selected event?' }).getByRole('button', { name: 'Replay 1' }).click();
    await page.locator('p.notice').waitFor({ timeout: 30_000 });
    expect(await page.locator('p.notice').innerText()).toBe('Replay started for 0 events; 1 skipped (in progress or replayed since they were selected).');
    expect(await roundOf(event.id)).toEqual({ status: 'COMPLETED', replays: 1 });
    expect(taken(event.id)).toBe(1);
  });
});
