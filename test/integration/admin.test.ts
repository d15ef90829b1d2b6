import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { githubSignature, postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const STRIPE_SECRET = 'whsec_admin_test_stripe';
const GITHUB_SECRET = 'gh-admin-secret';
const ACME_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const TOKEN = 'adm_9f8e7d6c5b4a3f2e1d0c';

let db: TestDatabase;
let ns: TestQueueNamespace;
let idleNs: TestQueueNamespace;
let app: InProcessService;
/** Same database, no ADMIN_API_TOKEN, ingress only, and a queue prefix no worker consumes: its events stay PENDING. */
let locked: InProcessService;
let routesFile: TempRoutesFile;
let providersDir: string;
const sink = new HttpSink(() => ({ status: 500 }));

let counter = 0;
const unique = (label: string) => `${label}_${Date.now()}_${counter++}`;

async function sendStripe(baseUrl: string, type: string) {
  const body = JSON.stringify({ id: unique('evt_admin'), object: 'event', type });
  const response = await postWebhook(baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

async function sendGithubPush() {
  const body = JSON.stringify({ ref: 'refs/heads/main', n: counter });
  const response = await postWebhook(app.baseUrl, 'github', body, {
    'content-type': 'application/json',
    'x-github-event': 'push',
    'x-github-delivery': unique('delivery-admin'),
    'x-hub-signature-256': githubSignature(body, GITHUB_SECRET),
  });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

async function sendAcme(type: string) {
  const body = JSON.stringify({ type, data: { n: counter } });
  const messageId = unique('msg_admin');
  // One instant for the signature and its header: two clock reads straddling a second boundary signed another second.
  const sentAt = new Date();
  const signature = new Webhook(ACME_SECRET).sign(messageId, sentAt, body);
  const response = await postWebhook(app.baseUrl, 'acme', body, {
    'content-type': 'application/json',
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
    'webhook-signature': signature,
  });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

const statusOf = async (id: string) => (await db.pool.query('SELECT status FROM webhook_events WHERE id = $1', [id])).rows[0]?.status as string | undefined;
const waitForStatus = (id: string, status: string) => waitFor(`event ${id} to be ${status}`, async () => (await statusOf(id)) === status);

const errorShape = (statusCode: number, path: string) => ({
  statusCode,
  timestamp: expect.any(String),
  path,
  message: expect.any(String),
  correlationId: expect.any(String),
  traceId: expect.any(String),
});

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  idleNs = createQueueNamespace();
  await sink.start();
  routesFile = writeRoutesFile({
    destinations: { dest: { url: `${sink.url}/hooks` } },
    routes: [
      { provider: 'stripe', events: ['fail.*'], to: ['dest'] },
      { provider: 'github', events: ['push'], to: ['dest'] },
    ],
  });
  providersDir = mkdtempSync(join(tmpdir(), 'providers-test-'));
  writeFileSync(join(providersDir, 'providers.yaml'), `providers:\n  acme:\n    type: standard-webhooks\n    secrets: ["${ACME_SECRET}"]\n`);
  const common = {
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
    PROVIDERS_FILE: join(providersDir, 'providers.yaml'),
  };
  app = await startInProcessService({
    ...common,
    SERVICE_ROLE: 'all',
    QUEUE_PREFIX: ns.prefix,
    ROUTES_FILE: routesFile.path,
    ADMIN_API_TOKEN: TOKEN,
    // The authentication tests send dozens of wrong tokens from this one address; the 429 that follows 20 in a minute
    // has its own test (test/security/admin-auth-failure-budget.test.ts).
    ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE: '100000',
    JOB_ATTEMPTS: '2',
    JOB_BACKOFF_MS: '20',
  });
  locked = await startInProcessService({ ...common, SERVICE_ROLE: 'ingress', QUEUE_PREFIX: idleNs.prefix });
});

afterAll(async () => {
  await locked?.stop();
  await app?.stop();
  await sink.stop();
  routesFile?.remove();
  if (providersDir) rmSync(providersDir, { recursive: true, force: true });
  await ns?.cleanup();
  await idleNs?.cleanup();
  await db?.drop();
});

describe('authentication', () => {
  const someId = randomUUID();
  const routes: ['GET' | 'POST', string, unknown?][] = [
    ['GET', '/admin/events'],
    ['GET', `/admin/events/${someId}`],
    ['POST', `/admin/events/${someId}/replay`],
    ['POST', '/admin/events/replay', { status: 'DEAD_LETTER' }],
  ];

  it('without ADMIN_API_TOKEN every admin route is refused with 403, whatever token is sent', async () => {
    for (const [method, path, body] of routes) {
      for (const token of [undefined, TOKEN, '']) {
        const response = await adminRequest(locked.baseUrl, token, method, path, body);
        expect({ method, path, token, status: response.status }).toEqual({ method, path, token, status: 403 });
        expect(response.json).toMatchObject(errorShape(403, path));
      }
    }
  });

  it.each([
    ['no Authorization header', undefined],
    ['a wrong token', 'not-the-token'],
    ['a near miss (same length, last character off)', `${TOKEN.slice(0, -1)}${TOKEN.endsWith('x') ? 'y' : 'x'}`],
    ['a near miss (same length, first character off)', `Z${TOKEN.slice(1)}`],
    ['a prefix of the token', TOKEN.slice(0, -1)],
    ['the token with a suffix', `${TOKEN}0`],
    ['an empty token', ''],
  ])('refuses %s with 401 in the error shape on every route', async (_name, token) => {
    for (const [method, path, body] of routes) {
      const response = await adminRequest(app.baseUrl, token, method, path, body);
      expect({ method, path, status: response.status }).toEqual({ method, path, status: 401 });
      expect(response.json).toMatchObject(errorShape(401, path));
      expect(JSON.stringify(response.json)).not.toContain(TOKEN);
    }
  });

  it('refuses other schemes carrying the right token', async () => {
    for (const authorization of [`Basic ${TOKEN}`, TOKEN, `Bearer ${TOKEN} extra`, `Token ${TOKEN}`]) {
      const response = await fetch(`${app.baseUrl}/admin/events`, { headers: { authorization } });
      expect({ authorization, status: response.status }).toEqual({ authorization, status: 401 });
    }
  });

  it('names the bearer scheme in WWW-Authenticate on a 401 (RFC 6750), with error="invalid_token" for a wrong token', async () => {
    const missing = await fetch(`${app.baseUrl}/admin/events`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="admin"');
    const wrong = await fetch(`${app.baseUrl}/admin/events`, { headers: { authorization: 'Bearer not-the-token' } });
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="admin", error="invalid_token"');
  });

  it('accepts the right token', async () => {
    const response = await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/events');
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ items: expect.any(Array), nextCursor: null });
  });
});

describe('GET /admin/events', () => {
  /** Follows nextCursor until it is null; returns the pages. */
  async function allPages(query: string) {
    const pages: { items: { id: string; provider: string }[]; nextCursor: string | null }[] = [];
    let cursor: string | null = null;
    do {
      const response = await adminRequest(app.baseUrl, TOKEN, 'GET', `/admin/events?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(response.status).toBe(200);
      pages.push(response.json);
      cursor = response.json.nextCursor;
    } while (cursor && pages.length < 50);
    return pages;
  }

  /** The acme events as the list must show them: newest first, ties broken by id. */
  const expectedAcmeOrder = async () =>
    (await db.pool.query(`SELECT id FROM webhook_events WHERE provider = 'acme' ORDER BY received_at DESC, id DESC`)).rows.map((row) => row.id as string);

  it('pages with a cursor: limit=2 across 5 events stored in one batch, no overlaps, nothing missed', async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, () => sendAcme('page.test')));
    // Group commit stores a batch with one received_at (microsecond precision); make that certain here. One row per
    // statement: the running worker claims and finishes these rows meanwhile, and a multi-row UPDATE locking them in
    // another order than its batch can deadlock with it (seen in CI).
    for (const id of ids) await db.pool.query(`UPDATE webhook_events SET received_at = '2031-03-04 05:06:07.123456+00' WHERE id = $1`, [id]);

    const pages = await allPages('provider=acme&limit=2');
    expect(pages.map((page) => page.items.length)).toEqual([2, 2, 1]);
    expect(pages.at(-1)!.nextCursor).toBeNull();
    const seen = pages.flatMap((page) => page.items.map((item) => item.id));
    expect(new Set(seen)).toEqual(new Set(ids));
    expect(seen).toEqual([...ids].sort().reverse()); // ties broken by id, descending
  });

  it('pages newest first across timestamps a microsecond apart', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await sendAcme('order.test'));
    // Inside one millisecond: only the microseconds tell them apart.
    // One row per statement, as above (no deadlock with the worker's batches).
    for (const [index, id] of ids.entries()) {
      await db.pool.query(`UPDATE webhook_events SET received_at = '2032-01-01 00:00:00.000500+00'::timestamptz - ($2::int * interval '1 microsecond') WHERE id = $1`, [
        id,
        index + 1,
      ]);
    }
    const expected = await expectedAcmeOrder();
    expect(expected.slice(0, 4)).toEqual(ids);
    for (const limit of [1, 2, 3]) {
      const pages = await allPages(`provider=acme&limit=${limit}`);
      expect(pages.flatMap((page) => page.items.map((item) => item.id))).toEqual(expected);
      expect(pages.at(-1)!.nextCursor).toBeNull();
    }
  });

  it('filters by status and provider, and shows events in the contract shape', async () => {
    const pending = await sendStripe(locked.baseUrl, 'list.pending');
    const completed = await sendAcme('list.completed');
    await waitForStatus(completed, 'COMPLETED');

    const byStatus = await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/events?status=PENDING&limit=500');
    expect(byStatus.status).toBe(200);
    expect(byStatus.json.items.map((item: { id: string }) => item.id)).toContain(pending);
    expect(byStatus.json.items.every((item: { status: string }) => item.status === 'PENDING')).toBe(true);

    const byProvider = await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/events?provider=acme&status=COMPLETED&limit=500');
    expect(byProvider.json.items.map((item: { id: string }) => item.id)).toContain(completed);
    expect(byProvider.json.items.every((item: { provider: string; status: string }) => item.provider === 'acme' && item.status === 'COMPLETED')).toBe(true);
    expect(byProvider.json.items.find((item: { id: string }) => item.id === completed)).toEqual(
      expect.objectContaining({
        id: completed,
        provider: 'acme',
        externalId: expect.stringMatching(/^msg_admin_/),
        eventType: 'list.completed',
        status: 'COMPLETED',
        attempts: 1,
        replays: 0,
        lastError: null,
        receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      }),
    );

    const none = await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/events?provider=nobody');
    expect(none.json).toEqual({ items: [], nextCursor: null });
  });

  it.each([
    ['an invalid status', '?status=DONE'],
    ['a lowercase status', '?status=pending'],
    ['a limit of 0', '?limit=0'],
    ['a limit that is not a number', '?limit=ten'],
    ['a cursor that is not base64 of a position', '?cursor=garbage'],
    ['a cursor with a bad uuid', `?cursor=${Buffer.from('2024-01-01T00:00:00.000Z|nope').toString('base64url')}`],
    ['a cursor with a bad date', `?cursor=${Buffer.from(`yesterday|${randomUUID()}`).toString('base64url')}`],
    ['a cursor with a date that does not exist', `?cursor=${Buffer.from(`2024-02-30T00:00:00.000000Z|${randomUUID()}`).toString('base64url')}`],
    ['a cursor with hour 24', `?cursor=${Buffer.from(`2024-02-01T24:00:00Z|${randomUUID()}`).toString('base64url')}`],
    ['a cursor with year 0', `?cursor=${Buffer.from(`0000-01-01T00:00:00Z|${randomUUID()}`).toString('base64url')}`],
  ])('answers %s with 400 in the error shape', async (_name, query) => {
    const response = await adminRequest(app.baseUrl, TOKEN, 'GET', `/admin/events${query}`);
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject(errorShape(400, '/admin/events'));
  });
});

describe('GET /admin/events/{id}', () => {
  it('shows the event with its deliveries', async () => {
    sink.behaviour = (_request, index) => ({ status: index % 2 === 0 ? 500 : 200 });
    const before = sink.requests.length;
    const id = await sendStripe(app.baseUrl, 'fail.once');
    await waitForStatus(id, 'COMPLETED');
    sink.behaviour = () => ({ status: 500 });
    expect(sink.requests.length - before).toBe(2);

    const response = await adminRequest(app.baseUrl, TOKEN, 'GET', `/admin/events/${id}`);
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ id, provider: 'stripe', eventType: 'fail.once', status: 'COMPLETED', attempts: 2 });
    expect(response.json.deliveries).toEqual([
      { destination: 'dest', attempt: 1, replay: 0, succeeded: false, statusCode: 500, error: expect.stringMatching(/^HTTP 500/), durationMs: expect.any(Number), at: expect.any(String) },
      { destination: 'dest', attempt: 2, replay: 0, succeeded: true, statusCode: 200, error: null, durationMs: expect.any(Number), at: expect.any(String) },
    ]);
  });

  it('answers 404 for an unknown uuid and for a non-uuid', async () => {
    for (const id of [randomUUID(), 'not-a-uuid', '1', `${randomUUID()}x`]) {
      const response = await adminRequest(app.baseUrl, TOKEN, 'GET', `/admin/events/${id}`);
      expect({ id, status: response.status }).toEqual({ id, status: 404 });
      expect(response.json).toMatchObject(errorShape(404, `/admin/events/${id}`));
    }
  });
});

describe('replay', () => {
  it('answers 409 for an event still in progress (PENDING), and 404 for an unknown one', async () => {
    const pending = await sendStripe(locked.baseUrl, 'replay.pending');
    expect(await statusOf(pending)).toBe('PENDING');
    const conflict = await adminRequest(app.baseUrl, TOKEN, 'POST', `/admin/events/${pending}/replay`);
    expect(conflict.status).toBe(409);
    expect(conflict.json).toMatchObject(errorShape(409, `/admin/events/${pending}/replay`));
    expect(await statusOf(pending)).toBe('PENDING');

    for (const id of [randomUUID(), 'nope']) {
      expect((await adminRequest(app.baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`)).status).toBe(404);
    }
  });

  it('bulk replay of DEAD_LETTER events of one provider: 202 {replayed}, and they complete; others stay', async () => {
    sink.behaviour = () => ({ status: 500 });
    const stripeIds = await Promise.all([1, 2, 3].map(() => sendStripe(app.baseUrl, 'fail.always')));
    const githubId = await sendGithubPush();
    for (const id of [...stripeIds, githubId]) await waitForStatus(id, 'DEAD_LETTER');

    sink.behaviour = () => ({ status: 200 });
    const response = await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/events/replay', { status: 'DEAD_LETTER', provider: 'stripe' });
    expect(response).toEqual({ status: 202, json: { replayed: 3 } });
    for (const id of stripeIds) await waitForStatus(id, 'COMPLETED');
    expect(await statusOf(githubId)).toBe('DEAD_LETTER');
    for (const id of stripeIds) {
      const requests = sink.requestsFor(id);
      expect(requests).toHaveLength(3); // two failed attempts, then the replay's success
      // Attempt numbers restart with the replay; the replay number tells the rounds apart.
      const detail = await adminRequest(app.baseUrl, TOKEN, 'GET', `/admin/events/${id}`);
      expect(detail.json.replays).toBe(1);
      expect(detail.json.deliveries.map((d: { attempt: number; replay: number; succeeded: boolean }) => [d.replay, d.attempt, d.succeeded])).toEqual([
        [0, 1, false],
        [0, 2, false],
        [1, 1, true],
      ]);
    }
    expect(sink.requestsFor(githubId)).toHaveLength(2);

    // Nothing left to replay for stripe; the invalid body is refused.
    expect(await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/events/replay', { status: 'DEAD_LETTER', provider: 'stripe' })).toEqual({
      status: 202,
      json: { replayed: 0 },
    });
    const bad = await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/events/replay', { status: 'PENDING' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject(errorShape(400, '/admin/events/replay'));
    // A key the bulk replay does not take is refused, not dropped (which widened it to every provider's dead letters).
    const before = (await db.pool.query("SELECT count(*)::int AS n FROM webhook_events WHERE status = 'DEAD_LETTER'")).rows[0].n;
    expect(before).toBeGreaterThan(0);
    for (const body of [{ status: 'DEAD_LETTER', eventType: 'fail.x' }, { status: 'DEAD_LETTER', providr: 'stripe' }]) {
      const refused = await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/events/replay', body);
      expect(refused.status).toBe(400);
      expect(refused.json.message).toContain('Unrecognized key');
    }
    expect((await db.pool.query("SELECT count(*)::int AS n FROM webhook_events WHERE status = 'DEAD_LETTER'")).rows[0].n).toBe(before);
  });

  it('bulk replay of COMPLETED needs "confirm": true (it re-sends everything that ever completed)', async () => {
    sink.behaviour = () => ({ status: 200 });
    const id = await sendStripe(app.baseUrl, 'fail.never');
    await waitForStatus(id, 'COMPLETED');
    for (const body of [{ status: 'COMPLETED' }, { status: 'COMPLETED', confirm: 'yes' }, { status: 'COMPLETED', confirm: false }]) {
      const refused = await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/events/replay', body);
      expect(refused.status).toBe(400);
      expect(refused.json).toMatchObject(errorShape(400, '/admin/events/replay'));
      expect(refused.json.message).toContain('"confirm": true');
    }
    expect(await statusOf(id)).toBe('COMPLETED');
    const before = sink.requestsFor(id).length;
    const confirmed = await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/events/replay', { status: 'COMPLETED', provider: 'stripe', confirm: true });
    expect(confirmed.status).toBe(202);
    expect(confirmed.json.replayed).toBeGreaterThanOrEqual(1);
    await waitFor('the replayed event delivered again', () => sink.requestsFor(id).length === before + 1);
    await waitForStatus(id, 'COMPLETED');
  });
});
