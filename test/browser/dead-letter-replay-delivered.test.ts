import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * Review reproduction (rev-admin): the event detail's per-destination tag after a dead letter's replay.
 *
 * A dead letter's replay goes only to the destinations that have not taken it yet (README; the worker's claim counts
 * every successful attempt since the last COMPLETED replay). So after billing took the event in round 0 and crm kept
 * failing, the replay (round 1) sends to crm only. The console's Deliveries() looks for a success in the current
 * round only (`current = attempts.filter(replay === detail.replays)`), and falls back to earlier rounds only when the
 * event is COMPLETED: billing, which has the event and will never be sent it again, is shown "not delivered" (red)
 * while the replay runs and for good once the event is a dead letter again.
 */

const TOKEN = 'adm_dead_letter_delivered_7c2a';
const STRIPE_SECRET = 'whsec_dead_letter_delivered_stripe';
jest.setTimeout(120_000);

let fixture: ConsoleFixture;
// billing always takes it; crm always fails.
const sink = new HttpSink((request) => ({ status: request.path === '/crm' ? 503 : 200 }));

const statusOf = async (id: string) => (await fixture.db.pool.query('SELECT status, replays FROM webhook_events WHERE id = $1', [id])).rows[0] as { status: string; replays: number };

describeBrowser('event detail after a dead letter is replayed', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: TOKEN,
      service: 'in-process',
      stripeSecret: STRIPE_SECRET,
      sink,
      routes: (sinkUrl) => ({
        destinations: { billing: { url: `${sinkUrl}/billing` }, crm: { url: `${sinkUrl}/crm` } },
        routes: [{ provider: 'stripe', to: ['billing', 'crm'] }],
      }),
      env: { JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '20', POD_DELETION_COST_ENABLED: 'false' },
    });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('keeps showing billing as delivered: it took the event, and the replay does not send it there again', async () => {
    const body = JSON.stringify({ id: 'evt_dead_letter_delivered_1', object: 'event', type: 'invoice.paid', data: { object: {} } });
    const response = await postWebhook(fixture.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
    expect(response.status).toBe(202);
    const id = String(response.json!.id);
    await waitFor('the event to be a dead letter', async () => (await statusOf(id)).status === 'DEAD_LETTER', { timeoutMs: 30_000 });
    expect((await adminRequest(fixture.baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`)).status).toBe(202);
    await waitFor('the replay to end as a dead letter again', async () => {
      const { status, replays } = await statusOf(id);
      return status === 'DEAD_LETTER' && replays === 1;
    }, { timeoutMs: 30_000 });
    // The truth: billing has exactly one request (round 0), crm failed in both rounds.
    expect(sink.requestsFor(id).filter((request) => request.path === '/billing')).toHaveLength(1);

    const page = await fixture.newPage({ viewport: { width: 1360, height: 1000 } });
    await fixture.signIn(page);
    await page.goto(`${fixture.baseUrl}/console#/events/${id}`);
    await page.getByRole('heading', { name: 'Deliveries' }).waitFor();
    const tag = async (name: string) => (await page.getByRole('region', { name: `Deliveries to ${name}` }).locator('h3 .tag').textContent())?.trim();
    expect(await tag('crm')).toBe('not delivered');
    // Fails now: "not delivered".
    expect(await tag('billing')).toBe('delivered');
    await page.close();
  });
});
