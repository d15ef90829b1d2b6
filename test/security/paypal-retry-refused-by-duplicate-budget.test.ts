/**
 * The duplicate budget against PayPal's genuine retries. PayPal retries an undelivered event with the same event id
 * but a NEW transmission (new PAYPAL-TRANSMISSION-ID/TIME/SIG): a new signed delivery, never a re-send of one already
 * received. The budget's early refusal (before PostgreSQL, for a re-send it remembers from a client past its budget)
 * matched a remembered event id alone, so once PayPal's address had spent its budget (a burst of re-deliveries, or
 * clients sharing one key behind a proxy), PayPal's next retry of that event was refused 429 before storage, and its
 * transmission was never bound to the event. Whoever captured that retry could then build another body with the same
 * CRC32 (all PayPal's signature covers of the body) and another event id, send it under the retry's headers, and it
 * was stored as a new event: the guard "a transmission carries one event, ever" held only for transmissions that
 * reached storage.
 *
 * Now the early refusal applies to PayPal only when the same delivery is re-sent: the event id AND that transmission
 * already remembered. A new transmission goes to storage, which binds it to its event (or refuses it).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import CRC32 from 'crc-32';
import { forgeWithSameCrc32 } from '../support/crc32-forgery.js';
import { startInProcessIngress, type InProcessIngress } from '../support/in-process-ingress.js';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { postWebhook } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

const PAYPAL_WEBHOOK_ID = '5GP028458E2496506';
const LIMIT = 2;
const PAYPAL_EGRESS = '173.0.80.7';
const FORGER = '198.51.100.91';
/** Seconds of the budget's window the scenario needs after the flood's refusal (it takes well under one). */
const WINDOW_LEFT_NEEDED_S = 15;

let paypal: PaypalFixture;
let app: InProcessIngress;

beforeAll(async () => {
  paypal = await new PaypalFixture().start();
  app = await startInProcessIngress(
    {
      PAYPAL_WEBHOOK_ID,
      PAYPAL_CERT_HOSTS: paypal.host,
      DUPLICATE_WEBHOOK_LIMIT_PER_MINUTE: String(LIMIT),
      // The test's clients reach the ingress through a (loopback) proxy that names them in X-Forwarded-For.
      TRUST_PROXY: 'loopback',
    },
    { paypalDispatcher: paypal.agent },
  );
});

afterAll(async () => {
  await app?.stop();
  await paypal?.stop();
});

const event = (id: string) => JSON.stringify({ id, event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: { amount: { value: '10.00' } } });
const send = (body: string | Buffer, headers: Record<string, string>, from: string) =>
  postWebhook(app.baseUrl, 'paypal', body, { ...headers, 'x-forwarded-for': from });

/**
 * PayPal's address delivers a new event, then the same delivery again until the duplicate budget refuses it (429),
 * with at least WINDOW_LEFT_NEEDED_S seconds of the window left; otherwise again with a new event in the next window.
 * Returns the event's body and the ids answered.
 */
async function spendBudgetOnOneEvent(): Promise<{ body: string; eventId: string; externalId: string; statuses: number[] }> {
  for (let round = 1; round <= 3; round++) {
    const externalId = `WH-BUDGET-RETRY-${round}`;
    const body = event(externalId);
    const delivery = paypal.headers(body, PAYPAL_WEBHOOK_ID);
    const created = await send(body, delivery, PAYPAL_EGRESS);
    expect(created.status).toBe(202);
    const statuses: number[] = [];
    let retryAfter = 0;
    for (let i = 0; i <= LIMIT && retryAfter === 0; i++) {
      const answer = await send(body, delivery, PAYPAL_EGRESS);
      statuses.push(answer.status);
      if (answer.status === 429) retryAfter = Number(answer.headers.get('retry-after'));
    }
    if (retryAfter >= WINDOW_LEFT_NEEDED_S) return { body, eventId: created.json!.id as string, externalId, statuses };
    // The window ends too soon (or ended mid-flood): the scenario starts over in the next one.
    const nextWindow = Date.now() + (retryAfter + 1) * 1000;
    await waitFor('the next duplicate budget window', () => Date.now() > nextWindow, { timeoutMs: 70_000, intervalMs: 200 });
  }
  throw new Error('the duplicate budget never refused the re-sent delivery with enough of its window left');
}

describe("PayPal's genuine retry from a client past its duplicate budget", () => {
  it('is not refused before storage: its new transmission is bound to the event, and a body forged under it is refused', async () => {
    const { body, eventId, externalId, statuses } = await spendBudgetOnOneEvent();
    // Two duplicates answered 200, the third refused: the same delivery re-sent, remembered from now on.
    expect(statuses).toEqual([200, 200, 429]);

    // PayPal's retry of the same event: a new transmission, from the same (spent) address.
    const retryHeaders = paypal.headers(body, PAYPAL_WEBHOOK_ID);
    const retry = await send(body, retryHeaders, PAYPAL_EGRESS);

    // Whoever captured the retry: another event under its signature, with the same CRC32.
    const forged = forgeWithSameCrc32(
      Buffer.from(body),
      JSON.stringify({ id: 'WH-BUDGET-FORGED', event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: { amount: { value: '99999.00' } }, note: '@'.repeat(12) }),
    );
    expect(CRC32.buf(forged) >>> 0).toBe(CRC32.buf(Buffer.from(body)) >>> 0);
    const forgery = await send(forged, retryHeaders, FORGER);

    const stored = await app.db.pool.query<{ external_id: string }>("SELECT external_id FROM webhook_events WHERE provider = 'paypal' ORDER BY external_id");
    const bound = await app.db.pool.query<{ event_id: string }>('SELECT event_id FROM webhook_event_replay_keys WHERE replay_key = $1', [
      `transmission:${retryHeaders['paypal-transmission-id']}`,
    ]);
    expect({
      // Stored already, so a 429 loses nothing (PayPal retries); what matters is that it reached storage first.
      retry: { status: retry.status, json: retry.json },
      retryTransmissionBoundTo: bound.rows.map((row) => row.event_id),
      forgery: { status: forgery.status, message: forgery.json?.message },
      forgedStored: stored.rows.some((row) => row.external_id === 'WH-BUDGET-FORGED'),
    }).toEqual({
      retry: { status: 429, json: expect.objectContaining({ statusCode: 429 }) },
      retryTransmissionBoundTo: [eventId],
      forgery: { status: 401, message: 'Webhook signature was already used for another event' },
      forgedStored: false,
    });
    expect(stored.rows.map((row) => row.external_id)).toContain(externalId);

    // A body forged under the retry that keeps the event's id is a duplicate at most: the event keeps its content.
    const forgedSameId = forgeWithSameCrc32(
      Buffer.from(body),
      JSON.stringify({ id: externalId, event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: { amount: { value: '99999.00' } }, note: '@'.repeat(12) }),
    );
    const sameId = await send(forgedSameId, retryHeaders, FORGER);
    const amount = await app.db.pool.query<{ amount: string }>(
      "SELECT payload #>> '{resource,amount,value}' AS amount FROM webhook_events WHERE provider = 'paypal' AND external_id = $1",
      [externalId],
    );
    expect({ status: sameId.status, amounts: amount.rows.map((row) => row.amount) }).toEqual({ status: 200, amounts: ['10.00'] });
  });
});
