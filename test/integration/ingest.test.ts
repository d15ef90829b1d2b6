import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { githubSignature, postWebhook, signedStripeRequest, stripeSignature } from '../support/signing.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const STRIPE_SECRET = 'whsec_ingest_test_primary';
const STRIPE_OLD_SECRET = 'whsec_ingest_test_previous';
const GITHUB_SECRET = 'gh-ingest-secret';

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let queue: Queue;
let redis: Redis;

const countRows = async (where = 'true', values: unknown[] = []) =>
  Number((await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE ${where}`, values)).rows[0].n);

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  app = await startInProcessService({
    SERVICE_ROLE: 'ingress',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: `${STRIPE_SECRET},${STRIPE_OLD_SECRET}`,
    GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
    MAX_BODY_BYTES: '4096',
    JOB_ATTEMPTS: '5',
  });
  redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue('webhook-events', { connection: redis, prefix: ns.prefix });
});

afterAll(async () => {
  await app?.stop();
  await queue?.close();
  redis?.disconnect();
  await ns?.cleanup();
  await db?.drop();
});

describe('POST /webhooks/stripe', () => {
  it('stores a verified event once, answers 202, and enqueues its uuid as the job id', async () => {
    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_accept_1', type: 'invoice.paid' });
    const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    expect(response.json).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: 'PENDING', duplicate: false });
    expect(response.headers.get('x-correlation-id')).toBeTruthy();

    const { rows } = await db.pool.query('SELECT * FROM webhook_events WHERE id = $1', [response.json!.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ provider: 'stripe', external_id: 'evt_accept_1', event_type: 'invoice.paid', status: 'PENDING', attempts: 0 });
    // The raw body is kept byte for byte; signatures are not stored in the kept headers.
    expect(Buffer.from(rows[0].raw_body).toString('utf8')).toBe(body);
    expect(JSON.stringify(rows[0].headers)).not.toContain('stripe-signature');
    expect(rows[0].correlation_id).toBe(response.headers.get('x-correlation-id'));

    const job = await waitFor('the job to be enqueued', () => queue.getJob(String(response.json!.id)));
    expect(job.data.eventId).toBe(response.json!.id);
    expect(job.opts.attempts).toBe(5);
  });

  it('answers 200 duplicate with the same id on a repeat, and keeps one row', async () => {
    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_dup_1' });
    const first = await postWebhook(app.baseUrl, 'stripe', body, headers);
    const second = await postWebhook(app.baseUrl, 'stripe', body, headers);
    expect(first.status).toBe(202);
    expect(second.status).toBe(200);
    expect(second.json).toEqual({ id: first.json!.id, status: 'PENDING', duplicate: true });
    expect(await countRows('external_id = $1', ['evt_dup_1'])).toBe(1);
  });

  it('resolves concurrent duplicates to one row and exactly one 202', async () => {
    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_concurrent_1' });
    const responses = await Promise.all(Array.from({ length: 25 }, () => postWebhook(app.baseUrl, 'stripe', body, headers)));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(24);
    expect(new Set(responses.map((r) => r.json!.id)).size).toBe(1);
    expect(await countRows('external_id = $1', ['evt_concurrent_1'])).toBe(1);
  });

  it('accepts a signature made with a previous secret during rotation', async () => {
    const { body, headers } = signedStripeRequest(STRIPE_OLD_SECRET, { id: 'evt_rotation_1' });
    expect((await postWebhook(app.baseUrl, 'stripe', body, headers)).status).toBe(202);
  });

  it.each([
    ['a tampered body', (body: string, sig: string) => ({ body: body.replace('4200', '4201'), sig })],
    ['a wrong secret', (body: string) => ({ body, sig: stripeSignature(body, 'whsec_wrong') })],
    ['an expired timestamp', (body: string) => ({ body, sig: stripeSignature(body, STRIPE_SECRET, Math.floor(Date.now() / 1000) - 3600) })],
    ['a timestamp from the future', (body: string) => ({ body, sig: stripeSignature(body, STRIPE_SECRET, Math.floor(Date.now() / 1000) + 3600) })],
    ['a malformed header', (body: string) => ({ body, sig: 'nonsense' })],
  ])('refuses %s with 401 and stores nothing', async (_name, mutate) => {
    const externalId = `evt_bad_sig_${Math.random().toString(36).slice(2)}`;
    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: externalId });
    const { body: sentBody, sig } = mutate(body, headers['stripe-signature']);
    const response = await postWebhook(app.baseUrl, 'stripe', sentBody, { 'content-type': 'application/json', 'stripe-signature': sig });
    expect(response.status).toBe(401);
    expect(response.json).toMatchObject({ statusCode: 401, path: '/webhooks/stripe', message: expect.any(String), correlationId: expect.any(String), traceId: expect.any(String), timestamp: expect.any(String) });
    expect(response.text).not.toContain(STRIPE_SECRET);
    expect(await countRows('external_id = $1', [externalId])).toBe(0);
  });

  it('refuses a missing signature with 401', async () => {
    const response = await postWebhook(app.baseUrl, 'stripe', '{"id":"evt_nosig","type":"a"}', { 'content-type': 'application/json' });
    expect(response.status).toBe(401);
  });
});

describe('bad input never yields a 500 and leaves nothing behind', () => {
  const signed = (body: string) => ({ 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });

  it.each([
    ['malformed JSON', '{"id": "evt_x", '],
    ['a JSON array', '[1,2,3]'],
    ['a JSON string', '"hello"'],
    ['a missing id', '{"type":"invoice.paid"}'],
    ['a missing type', '{"id":"evt_missing_type"}'],
    ['an empty id', '{"id":"","type":"x"}'],
    ['an object id', '{"id":{"a":1},"type":"x"}'],
    ['an empty body', ''],
    // PostgreSQL could store this depth; far deeper ones (about 15,000 levels) it refuses with a 500 and the batch.
    ['arrays nested 600 deep', `{"id":"evt_deep","type":"x","x":${'['.repeat(600)}${']'.repeat(600)}}`],
  ])('%s with a valid signature gets 400', async (_name, body) => {
    const before = await countRows();
    const response = await postWebhook(app.baseUrl, 'stripe', body, signed(body));
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ statusCode: 400, correlationId: expect.any(String) });
    expect(await countRows()).toBe(before);
  });

  it('stores odd characters (NUL, emoji, lone surrogates, RTL) without a 500', async () => {
    const body = '{"id":"evt_odd_1","type":"x.\\u0000\\u202e\\ud83d\\ude00","note":"\\u0000\\ud800 \u00e9"}';
    const response = await postWebhook(app.baseUrl, 'stripe', body, signed(body));
    expect(response.status).toBe(202);
    const { rows } = await db.pool.query('SELECT raw_body FROM webhook_events WHERE id = $1', [response.json!.id]);
    expect(Buffer.from(rows[0].raw_body).toString('utf8')).toBe(body);
  });

  it('refuses an id holding a NUL (it would be stored as U+FFFD, the id of other events), storing nothing', async () => {
    const body = '{"id":"evt_odd_\\u0000_2","type":"x"}';
    const response = await postWebhook(app.baseUrl, 'stripe', body, signed(body));
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ statusCode: 400, message: expect.stringContaining('U+FFFD') });
    expect(await countRows('external_id LIKE $1', ['evt_odd_%_2'])).toBe(0);
  });

  it('answers 413 to a body over MAX_BODY_BYTES', async () => {
    const body = JSON.stringify({ id: 'evt_large', type: 'x', pad: 'a'.repeat(5000) });
    const response = await postWebhook(app.baseUrl, 'stripe', body, signed(body));
    expect(response.status).toBe(413);
    expect(response.json).toMatchObject({ statusCode: 413 });
    expect(await countRows('external_id = $1', ['evt_large'])).toBe(0);
  });

  it('answers 415 to an unsupported content type', async () => {
    const body = '{"id":"evt_text","type":"x"}';
    const response = await postWebhook(app.baseUrl, 'stripe', body, { ...signed(body), 'content-type': 'text/plain' });
    expect(response.status).toBe(415);
    expect(response.json).toMatchObject({ statusCode: 415 });
  });

  it('answers 404 to an unknown or disabled provider', async () => {
    for (const provider of ['nope', 'paypal', '..%2f..%2fetc']) {
      const response = await postWebhook(app.baseUrl, provider, '{}', { 'content-type': 'application/json' });
      expect(response.status).toBe(404);
      expect(response.json).toMatchObject({ statusCode: 404, message: expect.any(String) });
    }
  });

  it('keeps a sane X-Correlation-Id from the caller and replaces an unsafe one', async () => {
    const kept = await fetch(`${app.baseUrl}/health/live`, { headers: { 'x-correlation-id': 'abc-123' } });
    expect(kept.headers.get('x-correlation-id')).toBe('abc-123');
    const replaced = await fetch(`${app.baseUrl}/health/live`, { headers: { 'x-correlation-id': 'a b<script>' } });
    expect(replaced.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers unknown routes with 404 in the error shape', async () => {
    const response = await fetch(`${app.baseUrl}/nowhere`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ statusCode: 404, path: '/nowhere', correlationId: expect.any(String), traceId: expect.any(String) });
  });
});

describe('POST /webhooks/github', () => {
  it('accepts JSON with the action in the event type', async () => {
    const body = JSON.stringify({ action: 'opened', issue: { number: 1 } });
    const response = await postWebhook(app.baseUrl, 'github', body, {
      'content-type': 'application/json',
      'x-github-event': 'issues',
      'x-github-delivery': 'delivery-json-1',
      'x-hub-signature-256': githubSignature(body, GITHUB_SECRET),
    });
    expect(response.status).toBe(202);
    const { rows } = await db.pool.query('SELECT event_type, external_id FROM webhook_events WHERE id = $1', [response.json!.id]);
    expect(rows[0]).toEqual({ event_type: 'issues.opened', external_id: 'delivery-json-1' });
  });

  it('accepts form-encoded deliveries (payload=…)', async () => {
    const body = `payload=${encodeURIComponent(JSON.stringify({ zen: 'Keep it logically awesome.' }))}`;
    const response = await postWebhook(app.baseUrl, 'github', body, {
      'content-type': 'application/x-www-form-urlencoded',
      'x-github-event': 'ping',
      'x-github-delivery': 'delivery-form-1',
      'x-hub-signature-256': githubSignature(body, GITHUB_SECRET),
    });
    expect(response.status).toBe(202);
  });

  it('refuses a tampered delivery', async () => {
    const body = JSON.stringify({ action: 'opened' });
    const response = await postWebhook(app.baseUrl, 'github', body.replace('opened', 'closed'), {
      'content-type': 'application/json',
      'x-github-event': 'issues',
      'x-github-delivery': 'delivery-tampered',
      'x-hub-signature-256': githubSignature(body, GITHUB_SECRET),
    });
    expect(response.status).toBe(401);
  });
});

describe('health', () => {
  it('reports database, redis and memory', async () => {
    const response = await fetch(`${app.baseUrl}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'ok',
      details: { database: { status: 'up' }, redis: { status: 'up' }, memory: { status: 'up' } },
    });
    expect((await fetch(`${app.baseUrl}/health/live`)).status).toBe(200);
    expect((await fetch(`${app.baseUrl}/health/ready`)).status).toBe(200);
  });
});
