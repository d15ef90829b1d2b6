/**
 * A PayPal transmission carries one event, ever (the signature binds the body only through CRC32): besides the
 * transmission that created an event, each later one that re-delivered it (PayPal's retry, answered as a duplicate)
 * is bound to it (webhook_event_replay_keys), and keeps binding it after retention deletes the event (its tombstone).
 * See also paypal-retry-transmission-forgery.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '../../services/shared/logging/logger.js';
import { Retention } from '../../services/worker/maintenance/retention.js';
import { forgeWithSameCrc32 } from '../support/crc32-forgery.js';
import { startInProcessIngress, type InProcessIngress } from '../support/in-process-ingress.js';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { postWebhook } from '../support/signing.js';

const PAYPAL_WEBHOOK_ID = '7RT45012K8832104X';
const REFUSED = { statusCode: 401, code: 'UNAUTHORIZED', message: 'Webhook signature was already used for another event' };

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

const event = (id: string, amount: string) =>
  JSON.stringify({ id, event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: { amount: { value: amount } } });
/** Another body, with `id`, under the CRC32 of `body`. */
const forged = (body: string, id: string) =>
  forgeWithSameCrc32(
    Buffer.from(body),
    JSON.stringify({ id, event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: { amount: { value: '99999.00' } }, note: '@'.repeat(12) }),
  );
const isStored = async (externalId: string) =>
  (await app.db.pool.query(`SELECT 1 FROM webhook_events WHERE provider = 'paypal' AND external_id = $1`, [externalId])).rowCount === 1;

describe('PayPal: every transmission is bound to the event it carried', () => {
  it("records a retry's transmission id with its event, and not the creating one's twice", async () => {
    const body = event('WH-BIND-A', '1.00');
    const createdBy = paypal.headers(body, PAYPAL_WEBHOOK_ID);
    const first = await postWebhook(app.baseUrl, 'paypal', body, createdBy);
    const resent = await postWebhook(app.baseUrl, 'paypal', body, createdBy);
    const retryHeaders = paypal.headers(body, PAYPAL_WEBHOOK_ID);
    const retry = await postWebhook(app.baseUrl, 'paypal', body, retryHeaders);
    expect([first.status, resent.status, retry.status]).toEqual([202, 200, 200]);
    const { rows } = await app.db.pool.query('SELECT replay_key, event_id FROM webhook_event_replay_keys WHERE event_id = $1', [first.json!.id]);
    expect(rows).toEqual([{ replay_key: `transmission:${retryHeaders['paypal-transmission-id']}`, event_id: first.json!.id }]);
  });

  it("refuses a body forged under another event's transmission even when it carries a stored event's id", async () => {
    const bodyA = event('WH-BIND-C', '1.00');
    const bodyB = event('WH-BIND-D', '2.00');
    const headersA = paypal.headers(bodyA, PAYPAL_WEBHOOK_ID);
    const retryB = paypal.headers(bodyB, PAYPAL_WEBHOOK_ID);
    expect((await postWebhook(app.baseUrl, 'paypal', bodyA, headersA)).status).toBe(202);
    expect((await postWebhook(app.baseUrl, 'paypal', bodyB, paypal.headers(bodyB, PAYPAL_WEBHOOK_ID))).status).toBe(202);
    expect((await postWebhook(app.baseUrl, 'paypal', bodyB, retryB)).status).toBe(200);

    // B's id under A's creating transmission, then A's id under B's retry: neither transmission carried that event.
    const underCreating = await postWebhook(app.baseUrl, 'paypal', forged(bodyA, 'WH-BIND-D'), headersA);
    const underRetry = await postWebhook(app.baseUrl, 'paypal', forged(bodyB, 'WH-BIND-C'), retryB);
    expect([underCreating.status, underCreating.json]).toEqual([401, expect.objectContaining(REFUSED)]);
    expect([underRetry.status, underRetry.json]).toEqual([401, expect.objectContaining(REFUSED)]);
    const { rows } = await app.db.pool.query<{ external_id: string; amount: string }>(
      `SELECT external_id, payload #>> '{resource,amount,value}' AS amount FROM webhook_events
        WHERE external_id IN ('WH-BIND-C', 'WH-BIND-D') ORDER BY external_id`,
    );
    expect(rows).toEqual([{ external_id: 'WH-BIND-C', amount: '1.00' }, { external_id: 'WH-BIND-D', amount: '2.00' }]);
  });

  it("keeps a retry's transmission after retention deletes its event: a body forged under it is still refused", async () => {
    const body = event('WH-BIND-E', '1.00');
    const first = await postWebhook(app.baseUrl, 'paypal', body, paypal.headers(body, PAYPAL_WEBHOOK_ID));
    const retryHeaders = paypal.headers(body, PAYPAL_WEBHOOK_ID);
    expect([first.status, (await postWebhook(app.baseUrl, 'paypal', body, retryHeaders)).status]).toEqual([202, 200]);

    await app.db.pool.query(`UPDATE webhook_events SET status = 'COMPLETED', updated_at = now() - interval '40 days' WHERE id = $1`, [first.json!.id]);
    const logger = createLogger('paypal-transmission-binding-test');
    const retention = new Retention({ pool: app.db.pool, completedDays: 30, tombstoneDays: 365, intervalMs: 3_600_000, logger });
    expect(await retention.runOnce()).toBe(1);
    const left = await app.db.pool.query('SELECT replay_key FROM webhook_event_tombstones WHERE event_id = $1 ORDER BY replay_key', [first.json!.id]);
    expect(left.rows).toHaveLength(2);
    expect((await app.db.pool.query('SELECT 1 FROM webhook_event_replay_keys WHERE event_id = $1', [first.json!.id])).rowCount).toBe(0);

    const answer = await postWebhook(app.baseUrl, 'paypal', forged(body, 'WH-BIND-F'), retryHeaders);
    expect([answer.status, answer.json]).toEqual([401, expect.objectContaining(REFUSED)]);
    expect(await isStored('WH-BIND-F')).toBe(false);
  });
});
