/**
 * Replays and forgeries built from captured deliveries, against the real ingress (PostgreSQL, Redis):
 * - PayPal binds the body only through CRC32, so one captured delivery lets anyone build another valid body (another
 *   id, another amount) under the same signature: a transmission id may carry one event, ever;
 * - GitHub (and `hmac` providers taking the id from a header) sign the body but not the delivery id or event type:
 *   the same signed body re-sent under new headers is the same event.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import CRC32 from 'crc-32';
import { forgeWithSameCrc32 } from '../support/crc32-forgery.js';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { startPaypalIngress } from '../support/paypal-ingress.js';
import type { InProcessService } from '../support/service-harness.js';
import { githubSignature, postWebhook } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

const PAYPAL_WEBHOOK_ID = '4JH86294D6297924G';
const GITHUB_SECRET = 'replay-test-github-secret';
const SHOP_SECRET = 'replay-test-shop-secret';

let db: TestDatabase;
let ns: TestQueueNamespace;
let paypal: PaypalFixture;
let app: InProcessService;
let dir: string;

beforeAll(async () => {
  [db, paypal] = await Promise.all([createTestDatabase(), new PaypalFixture().start()]);
  ns = createQueueNamespace();
  dir = mkdtempSync(join(tmpdir(), 'replay-test-'));
  const providersFile = join(dir, 'providers.yaml');
  writeFileSync(
    providersFile,
    [
      'providers:',
      '  shop:',
      '    type: hmac',
      '    header: X-Shop-Hmac-Sha256',
      '    algorithm: sha256',
      '    encoding: base64',
      `    secrets: [${SHOP_SECRET}]`,
      '    idHeader: X-Shop-Webhook-Id',
      '    typeHeader: X-Shop-Topic',
      '',
    ].join('\n'),
  );
  app = await startPaypalIngress(paypal, { db, ns }, {
    GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
    PAYPAL_WEBHOOK_ID,
    PROVIDERS_FILE: providersFile,
  });
});

afterAll(async () => {
  await app?.stop();
  await paypal?.stop();
  await ns?.cleanup();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const rowsOf = async (provider: string) =>
  (await db.pool.query<{ id: string; external_id: string; event_type: string }>(
    'SELECT id, external_id, event_type FROM webhook_events WHERE provider = $1 ORDER BY received_at',
    [provider],
  )).rows;

describe('PayPal: one signed transmission is one event', () => {
  it('refuses a body forged to the captured delivery\'s CRC32 (another id, another amount), and stores nothing', async () => {
    const original = JSON.stringify({ id: 'WH-REPLAY-ORIGINAL', event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: { amount: { value: '10.00' } } });
    const captured = paypal.headers(original, PAYPAL_WEBHOOK_ID);
    const first = await postWebhook(app.baseUrl, 'paypal', original, captured);
    expect(first.status).toBe(202);

    const forgedBodies = [1, 2, 3].map((n) =>
      forgeWithSameCrc32(
        Buffer.from(original),
        JSON.stringify({ id: `WH-REPLAY-FORGED-${n}`, event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: { amount: { value: '99999.00' } }, note: '@'.repeat(12) }),
      ),
    );
    for (const forged of forgedBodies) expect(CRC32.buf(forged) >>> 0).toBe(CRC32.buf(Buffer.from(original)) >>> 0);
    // One after another, and all at once (they then share one batched INSERT).
    const sequential = await postWebhook(app.baseUrl, 'paypal', forgedBodies[0]!, captured);
    const concurrent = await Promise.all(forgedBodies.slice(1).map((forged) => postWebhook(app.baseUrl, 'paypal', forged, captured)));
    for (const answer of [sequential, ...concurrent]) {
      expect(answer.status).toBe(401);
      expect(answer.json).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED', message: 'Webhook signature was already used for another event' });
    }
    expect((await rowsOf('paypal')).map((row) => row.external_id)).toEqual(['WH-REPLAY-ORIGINAL']);

    // The very same delivery re-sent (a provider retry, or a replay of it) is an ordinary duplicate.
    const again = await postWebhook(app.baseUrl, 'paypal', original, captured);
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ id: first.json!.id, duplicate: true });
  });

  it('a fresh transmission of the same event (PayPal\'s own retry) is a duplicate, not a refusal', async () => {
    const body = JSON.stringify({ id: 'WH-REPLAY-RETRIED', event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: {} });
    const first = await postWebhook(app.baseUrl, 'paypal', body, paypal.headers(body, PAYPAL_WEBHOOK_ID));
    const retry = await postWebhook(app.baseUrl, 'paypal', body, paypal.headers(body, PAYPAL_WEBHOOK_ID));
    expect([first.status, retry.status]).toEqual([202, 200]);
    expect(retry.json).toMatchObject({ id: first.json!.id, duplicate: true });
  });
});

describe('GitHub: the signed body is the event, whatever the unsigned headers say', () => {
  const body = JSON.stringify({ action: 'opened', issue: { number: 7, title: 'replayed?' }, repository: { full_name: 'o/r' } });
  const headers = (delivery: string, event: string) => ({
    'content-type': 'application/json',
    'x-hub-signature-256': githubSignature(body, GITHUB_SECRET),
    'x-github-delivery': delivery,
    'x-github-event': event,
  });

  it('a captured body re-sent with a new X-GitHub-Delivery and another X-GitHub-Event is a duplicate of the first', async () => {
    const first = await postWebhook(app.baseUrl, 'github', body, headers('d-original', 'issues'));
    expect(first.status).toBe(202);
    const replays = await Promise.all(
      ['push', 'issues', 'deployment', 'member'].map((event, n) => postWebhook(app.baseUrl, 'github', body, headers(`d-replay-${n}`, event))),
    );
    for (const replay of replays) {
      expect(replay.status).toBe(200);
      expect(replay.json).toMatchObject({ id: first.json!.id, duplicate: true });
    }
    // Stored once, with the type of the genuine delivery: nothing was routed as another event.
    expect((await rowsOf('github')).map((row) => [row.external_id, row.event_type])).toEqual([['d-original', 'issues.opened']]);
  });

  it('concurrent re-sends of one body under different delivery ids store it once', async () => {
    const fresh = JSON.stringify({ action: 'created', comment: { id: 99 } });
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, n) =>
        postWebhook(app.baseUrl, 'github', fresh, {
          'content-type': 'application/json',
          'x-hub-signature-256': githubSignature(fresh, GITHUB_SECRET),
          'x-github-delivery': `d-race-${n}`,
          'x-github-event': 'issue_comment',
        }),
      ),
    );
    expect(answers.filter((answer) => answer.status === 202)).toHaveLength(1);
    expect(new Set(answers.map((answer) => answer.json!.id)).size).toBe(1);
  });

  it('accepts application/vnd.github+json, as the router does (no 400 from the verifier)', async () => {
    const typed = JSON.stringify({ action: 'closed', issue: { number: 8 } });
    const answer = await postWebhook(app.baseUrl, 'github', typed, {
      'content-type': 'application/vnd.github+json',
      'x-hub-signature-256': githubSignature(typed, GITHUB_SECRET),
      'x-github-delivery': 'd-typed',
      'x-github-event': 'issues',
    });
    expect(answer.status).toBe(202);
  });
});

describe('hmac providers with the id in a header', () => {
  it('a captured body re-sent under a new id header is a duplicate', async () => {
    const body = JSON.stringify({ order: { id: 4711, total: '12.00' } });
    const headers = (id: string, topic: string) => ({
      'content-type': 'application/json',
      'x-shop-hmac-sha256': createHmac('sha256', SHOP_SECRET).update(body).digest('base64'),
      'x-shop-webhook-id': id,
      'x-shop-topic': topic,
    });
    const first = await postWebhook(app.baseUrl, 'shop', body, headers('shop-1', 'orders/create'));
    const replay = await postWebhook(app.baseUrl, 'shop', body, headers('shop-2', 'orders/cancelled'));
    expect([first.status, replay.status]).toEqual([202, 200]);
    expect(replay.json).toMatchObject({ id: first.json!.id, duplicate: true });
    expect((await rowsOf('shop')).map((row) => row.event_type)).toEqual(['orders/create']);
    // The headers that identify the event are kept with it (operators see them; route filters on `headers` read them).
    const { rows } = await db.pool.query('SELECT headers FROM webhook_events WHERE id = $1', [first.json!.id]);
    expect(rows[0].headers).toMatchObject({ 'x-shop-webhook-id': 'shop-1', 'x-shop-topic': 'orders/create' });
    expect(JSON.stringify(rows[0].headers)).not.toContain('x-shop-hmac-sha256');
  });
});
