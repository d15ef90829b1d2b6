/**
 * PayPal binds the body only through CRC32, so the README promises "a transmission carries one event, ever": another
 * body under a used transmission id is 401. The guard is the transmission id stored with the event (its replay key),
 * but only the transmission that CREATED the event is stored: a later transmission of the same event (PayPal's own
 * retry, answered 200 duplicate) leaves no trace. Whoever captures that retry (a proxy's log, within the tolerance)
 * can build a body with the same CRC32 and another event id under its signature, and it is accepted as a new event.
 * Observed: the retry answered 200 duplicate, then a forged body (id WH-RETRY-FORGED, amount 99999.00) under the
 * retry's headers answered 202 and was stored next to the genuine event.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import CRC32 from 'crc-32';
import { forgeWithSameCrc32 } from '../support/crc32-forgery.js';
import { startInProcessIngress, type InProcessIngress } from '../support/in-process-ingress.js';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { postWebhook } from '../support/signing.js';

const PAYPAL_WEBHOOK_ID = '7RT45012K8832104X';

let paypal: PaypalFixture;
let app: InProcessIngress;

beforeAll(async () => {
  paypal = await new PaypalFixture().start();
  app = await startInProcessIngress({ PAYPAL_WEBHOOK_ID, PAYPAL_CERT_HOSTS: paypal.host }, { paypalDispatcher: paypal.agent });
});

afterAll(async () => {
  await app?.stop();
  await paypal?.stop();
});

describe('PayPal: a retried transmission is a used transmission too', () => {
  it('refuses a body forged to the CRC32 of a retry (answered as a duplicate), and stores nothing new', async () => {
    const body = JSON.stringify({ id: 'WH-RETRY-GENUINE', event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: { amount: { value: '10.00' } } });
    const first = await postWebhook(app.baseUrl, 'paypal', body, paypal.headers(body, PAYPAL_WEBHOOK_ID));
    // PayPal's retry of the same event: a new transmission id, a new signature.
    const retryHeaders = paypal.headers(body, PAYPAL_WEBHOOK_ID);
    const retry = await postWebhook(app.baseUrl, 'paypal', body, retryHeaders);
    expect([first.status, retry.status]).toEqual([202, 200]);

    // The retry, captured: another event under its signature.
    const forged = forgeWithSameCrc32(
      Buffer.from(body),
      JSON.stringify({ id: 'WH-RETRY-FORGED', event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: { amount: { value: '99999.00' } }, note: '@'.repeat(12) }),
    );
    expect(CRC32.buf(forged) >>> 0).toBe(CRC32.buf(Buffer.from(body)) >>> 0);
    const answer = await postWebhook(app.baseUrl, 'paypal', forged, retryHeaders);

    const rows = await app.db.pool.query<{ external_id: string }>("SELECT external_id FROM webhook_events WHERE provider = 'paypal' ORDER BY received_at");
    expect({ status: answer.status, stored: rows.rows.map((row) => row.external_id) }).toEqual({ status: 401, stored: ['WH-RETRY-GENUINE'] });
  });
});
