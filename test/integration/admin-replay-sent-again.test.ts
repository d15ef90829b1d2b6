import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A replay request sent again: a client's retry after its answer was lost (a proxy's timeout, a port-forward that
 * dropped), the console's "replay them again" after a batch whose answer never came, two operators who looked at the
 * same dead letter. A replay that comes while the first one's event is still in progress is refused (409, or
 * `skipped`), but one that comes after it completed used to replay it once more, now as a COMPLETED event: to every
 * destination, the ones that had just taken it included.
 *
 * With the round the caller saw (`replays`), the request replays the event only while it is still in that round, so
 * the same request sent again delivers nothing twice. Without it, a replay is as before: the event's round is not
 * checked (each request is a deliberate "send it again").
 */

const TOKEN = 'adm_replay_sent_again_8c1f';
const STRIPE_SECRET = 'whsec_replay_sent_again';
jest.setTimeout(90_000);

let service: RoutedService;
let baseUrl: string;
/** Paths that answer 503. */
const failing = new Set<string>(['/crm']);
const sink = new HttpSink((request) => ({ status: failing.has(request.path) ? 503 : 200 }));

beforeAll(async () => {
  await sink.start();
  service = await startRoutedService(
    { destinations: { crm: { url: `${sink.url}/crm` } }, routes: [{ provider: 'stripe', to: ['crm'] }] },
    { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, ADMIN_API_TOKEN: TOKEN, JOB_ATTEMPTS: '1', POD_DELETION_COST_ENABLED: 'false' },
  );
  baseUrl = service.app.baseUrl;
});

afterAll(async () => {
  await service?.stop();
  await sink.stop();
});

const statusOf = async (id: string) =>
  (await service.db.pool.query('SELECT status, replays FROM webhook_events WHERE id = $1', [id])).rows[0] as { status: string; replays: number };
const settled = (id: string, status: string, replays: number) =>
  waitFor(`the event to be ${status} in round ${replays}`, async () => {
    const now = await statusOf(id);
    return now.status === status && now.replays === replays;
  }, { timeoutMs: 30_000 });
/** A dead letter: crm refuses its only attempt. */
async function deadLetter(name: string): Promise<string> {
  failing.add('/crm');
  const body = JSON.stringify({ id: `evt_sent_again_${name}`, object: 'event', type: 'invoice.paid', data: { object: {} } });
  const response = await postWebhook(baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  const id = String(response.json!.id);
  await settled(id, 'DEAD_LETTER', 0);
  return id;
}

/** Deliveries crm took (answered 2xx), per event id, counted as the sink answers them. */
const accepted = new Map<string, number>();
sink.onRequest = (request) => {
  if (failing.has(request.path)) return;
  const id = String(request.headers['webhook-id']);
  accepted.set(id, (accepted.get(id) ?? 0) + 1);
};

describe('a replay request with the round the caller saw, sent again', () => {
  it('one event: the second request, after the first replay completed, is a 409 and delivers nothing', async () => {
    const id = await deadLetter('one');
    failing.delete('/crm');
    expect((await adminRequest(baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`, { replays: 0 })).status).toBe(202);
    await settled(id, 'COMPLETED', 1);
    expect(accepted.get(id)).toBe(1);

    // The same request again (the client never saw the 202): the event is in round 1 now.
    const again = await adminRequest(baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`, { replays: 0 });
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('replayed since replay round 0') });
    expect(await statusOf(id)).toEqual({ status: 'COMPLETED', replays: 1 });

    // The round it is in now replays it (a deliberate replay of the completed event: crm gets it again).
    expect((await adminRequest(baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`, { replays: 1 })).status).toBe(202);
    await settled(id, 'COMPLETED', 2);
    expect(accepted.get(id)).toBe(2);
  });

  it('one event, two operators at once with the same round: one replay, one delivery', async () => {
    const id = await deadLetter('two-operators');
    failing.delete('/crm');
    const answers = await Promise.all([0, 1, 2].map(() => adminRequest(baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`, { replays: 0 })));
    expect(answers.map((answer) => answer.status).sort()).toEqual([202, 409, 409]);
    await settled(id, 'COMPLETED', 1);
    // Each late one again, once the event has completed: still nothing.
    const late = await adminRequest(baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`, { replays: 0 });
    expect(late.status).toBe(409);
    expect(await statusOf(id)).toEqual({ status: 'COMPLETED', replays: 1 });
    expect(accepted.get(id)).toBe(1);
  });

  it('by ids: the same request again skips the events replayed since', async () => {
    const ids = [await deadLetter('ids-a'), await deadLetter('ids-b')];
    failing.delete('/crm');
    const body = { ids, replays: Object.fromEntries(ids.map((id) => [id, 0])) };
    const first = await adminRequest(baseUrl, TOKEN, 'POST', '/admin/events/replay', body);
    expect(first).toMatchObject({ status: 202, json: { replayed: 2, skipped: [] } });
    await Promise.all(ids.map((id) => settled(id, 'COMPLETED', 1)));

    const again = await adminRequest(baseUrl, TOKEN, 'POST', '/admin/events/replay', body);
    expect(again.status).toBe(202);
    expect(again.json.replayed).toBe(0);
    expect([...again.json.skipped].sort()).toEqual([...ids].sort());
    for (const id of ids) {
      expect(await statusOf(id)).toEqual({ status: 'COMPLETED', replays: 1 });
      expect(accepted.get(id)).toBe(1);
    }
  });

  it('refuses a round that is not a replay round, and `replays` without a round for every id', async () => {
    const id = await deadLetter('bad-rounds');
    for (const replays of [-1, 1.5, '0', 2 ** 31]) {
      const answer = await adminRequest(baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`, { replays });
      expect(answer.status).toBe(400);
    }
    const other = '00000000-0000-4000-8000-000000000000';
    const missing = await adminRequest(baseUrl, TOKEN, 'POST', '/admin/events/replay', { ids: [id, other], replays: { [id]: 0 } });
    expect(missing.status).toBe(400);
    expect(missing.json.message).toContain(`replays: no round for ${other}`);
    expect(await statusOf(id)).toEqual({ status: 'DEAD_LETTER', replays: 0 });
  });

  it('ignores other keys in a single replay\'s body, as the endpoint did before it read one', async () => {
    const id = await deadLetter('other-keys');
    failing.delete('/crm');
    const answer = await adminRequest(baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`, { reason: `ticket 42: ${'a customer says the invoice never arrived; '.repeat(100)}` });
    expect(answer.status).toBe(202);
    await settled(id, 'COMPLETED', 1);
    expect(accepted.get(id)).toBe(1);
  });

  it('without a round, a replay is not checked against one: sent again after it completed, it replays once more', async () => {
    const id = await deadLetter('no-round');
    failing.delete('/crm');
    expect((await adminRequest(baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`)).status).toBe(202);
    await settled(id, 'COMPLETED', 1);
    expect((await adminRequest(baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`)).status).toBe(202);
    await settled(id, 'COMPLETED', 2);
    expect(accepted.get(id)).toBe(2);
  });
});
