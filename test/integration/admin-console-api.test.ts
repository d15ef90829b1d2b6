import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { consoleRouter } from '../../services/console/console-router.js';
import { loadConfig } from '../../services/shared/config/config.js';
import { errorMiddleware } from '../../services/shared/http/error-middleware.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { githubSignature, postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The admin API's additions for the event console: list filters (event type, time range, search by id or the
 * provider's id), counts per status, facets, the detail's body / routing / trace link, replay by ids, the overview
 * series, destinations with their recent success rate, ETags. Real PostgreSQL and Redis, the service in-process.
 */

const STRIPE_SECRET = 'whsec_console_api_stripe';
const GITHUB_SECRET = 'gh-console-api-secret';
const TOKEN = 'adm_console_api_0a1b2c3d4e5f';

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routesFile: TempRoutesFile;
const sink = new HttpSink(() => ({ status: 200 }));

let counter = 0;
const unique = (label: string) => `${label}_${Date.now()}_${counter++}`;

async function sendStripe(type: string, extra: Record<string, unknown> = {}) {
  const externalId = unique('evt_console');
  const body = JSON.stringify({ id: externalId, object: 'event', type, ...extra });
  const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  return { id: String(response.json!.id), externalId };
}

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${app.baseUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
const getJson = async (path: string) => {
  const response = await adminRequest(app.baseUrl, TOKEN, 'GET', path);
  expect({ path, status: response.status }).toEqual({ path, status: 200 });
  return response.json;
};
const ids = (body: { items: { id: string }[] }) => body.items.map((item) => item.id);
const statusOf = async (id: string) => (await db.pool.query('SELECT status FROM webhook_events WHERE id = $1', [id])).rows[0]?.status as string | undefined;
const waitForStatus = (id: string, status: string) => waitFor(`event ${id} to be ${status}`, async () => (await statusOf(id)) === status);

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await sink.start();
  sink.behaviour = (request) => ({ status: request.body.includes('"fail.') ? 503 : 200 });
  routesFile = writeRoutesFile({
    destinations: {
      billing: { url: `${sink.url}/billing` },
      // Credentials and a query in the URL, a secret and headers: none of it may show.
      crm: { url: `http://user:hunter2@127.0.0.1:${new URL(sink.url).port}/crm?key=sekrit`, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', headers: { 'x-api-key': 'k-123' } },
      idle: { url: 'http://127.0.0.1:9/never' },
    },
    routes: [
      { provider: 'stripe', events: ['invoice.*', 'fail.*'], to: ['billing'] },
      { provider: 'stripe', events: ['invoice.paid'], to: ['crm'] },
      { provider: 'github', to: ['billing'] },
    ],
  });
  app = await startInProcessService({
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    SERVICE_ROLE: 'all',
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
    ROUTES_FILE: routesFile.path,
    ADMIN_API_TOKEN: TOKEN,
    JOB_ATTEMPTS: '2',
    JOB_BACKOFF_MS: '20',
    TRACE_URL_TEMPLATE: 'https://tracing.example/trace/{traceId}?from=console',
  });
});

afterAll(async () => {
  await app?.stop();
  await sink.stop();
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

describe('every new route needs the token', () => {
  it.each(['/admin/events/counts', '/admin/events/facets', '/admin/overview', '/admin/destinations'])('%s: 401 without it, no-store', async (path) => {
    const response = await adminRequest(app.baseUrl, undefined, 'GET', path);
    expect(response.status).toBe(401);
    const withToken = await get(path);
    expect(withToken.status).toBe(200);
    expect(withToken.headers.get('cache-control')).toBe('no-store');
  });

  it('replay by ids needs it too', async () => {
    expect((await adminRequest(app.baseUrl, 'wrong', 'POST', '/admin/events/replay', { ids: [randomUUID()] })).status).toBe(401);
  });
});

describe('GET /admin/events filters', () => {
  let paid: { id: string; externalId: string };
  let created: { id: string; externalId: string };
  let old: { id: string; externalId: string };

  beforeAll(async () => {
    paid = await sendStripe('invoice.paid');
    created = await sendStripe('invoice.created');
    old = await sendStripe('invoice.paid');
    await db.pool.query(`UPDATE webhook_events SET received_at = '2030-01-01T10:00:00Z' WHERE id = $1`, [old.id]);
  });

  it('by event type', async () => {
    const body = await getJson('/admin/events?eventType=invoice.created&limit=500');
    expect(ids(body)).toContain(created.id);
    expect(body.items.every((item: { eventType: string }) => item.eventType === 'invoice.created')).toBe(true);
    expect(ids(body)).not.toContain(paid.id);
  });

  it('by time range: from inclusive, to exclusive', async () => {
    const inside = await getJson('/admin/events?from=2030-01-01T10:00:00Z&to=2030-01-01T10:00:00.001Z');
    expect(ids(inside)).toEqual([old.id]);
    expect(ids(await getJson('/admin/events?from=2030-01-01T10:00:00.001Z&to=2030-01-02T00:00:00Z'))).toEqual([]);
    expect(ids(await getJson('/admin/events?to=2030-01-01T10:00:00Z'))).not.toContain(old.id);
    // An offset other than Z is understood.
    expect(ids(await getJson(`/admin/events?from=${encodeURIComponent('2030-01-01T11:00:00+01:00')}&to=2030-01-01T10:00:01Z`))).toEqual([old.id]);
  });

  it('search by the event id or the provider id, exactly (whitespace trimmed)', async () => {
    expect(ids(await getJson(`/admin/events?q=${paid.id}`))).toEqual([paid.id]);
    expect(ids(await getJson(`/admin/events?q=${paid.id.toUpperCase()}`))).toEqual([paid.id]);
    expect(ids(await getJson(`/admin/events?q=${encodeURIComponent(` ${paid.externalId} `)}`))).toEqual([paid.id]);
    expect(ids(await getJson(`/admin/events?q=${paid.externalId.slice(0, -1)}`))).toEqual([]);
    expect(ids(await getJson(`/admin/events?q=${randomUUID()}`))).toEqual([]);
    // Combined with other filters, all must match.
    expect(ids(await getJson(`/admin/events?q=${paid.externalId}&provider=github`))).toEqual([]);
    expect(ids(await getJson(`/admin/events?q=${paid.externalId}&provider=stripe&eventType=invoice.paid`))).toEqual([paid.id]);
  });

  it('pages with a cursor under filters', async () => {
    const extra = [await sendStripe('page.filter'), await sendStripe('page.filter'), await sendStripe('page.filter')];
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const body: { items: { id: string }[]; nextCursor: string | null } = await getJson(`/admin/events?eventType=page.filter&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...ids(body));
      cursor = body.nextCursor;
    } while (cursor);
    expect(new Set(seen)).toEqual(new Set(extra.map((event) => event.id)));
    expect(seen).toHaveLength(3);
  });

  it.each([
    ['a from that is not a timestamp', '?from=yesterday'],
    ['a to without a zone', '?to=2030-01-01T10:00:00'],
    ['an event type longer than the ingress stores (255)', `?eventType=${'x'.repeat(256)}`],
    ['a search too long', `?q=${'x'.repeat(301)}`],
  ])('answers %s with 400', async (_name, query) => {
    const response = await adminRequest(app.baseUrl, TOKEN, 'GET', `/admin/events${query}`);
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ statusCode: 400, path: '/admin/events', message: expect.any(String) });
  });

  it('ETag: an unchanged answer is 304 with no body; a change gives a new one', async () => {
    const first = await get('/admin/events?eventType=etag.test');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^W\/".+"$/);
    const again = await get('/admin/events?eventType=etag.test', { 'if-none-match': etag! });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    await sendStripe('etag.test');
    const changed = await get('/admin/events?eventType=etag.test', { 'if-none-match': etag! });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
  });
});

describe('GET /admin/events/counts and /facets', () => {
  it('counts each status under the filters (status itself ignored)', async () => {
    const type = unique('count.type');
    const events = [await sendStripe(type), await sendStripe(type), await sendStripe(type)];
    await Promise.all(events.map((event) => waitForStatus(event.id, 'COMPLETED')));
    await db.pool.query(`UPDATE webhook_events SET status = 'DEAD_LETTER' WHERE id = $1`, [events[0]!.id]);
    const body = await getJson(`/admin/events/counts?eventType=${type}&status=COMPLETED`);
    expect(body).toEqual({ counts: { PENDING: 0, PROCESSING: 0, COMPLETED: 2, FAILED: 0, DEAD_LETTER: 1 }, more: [] });
    const none = await getJson(`/admin/events/counts?eventType=${type}&provider=github`);
    expect(Object.values(none.counts)).toEqual([0, 0, 0, 0, 0]);
  });

  it('facets: the providers and event types that have events', async () => {
    const body = await getJson('/admin/events/facets');
    expect(body.providers).toContain('stripe');
    expect(body.eventTypes).toEqual(expect.arrayContaining(['invoice.paid', 'invoice.created']));
    expect([...body.eventTypes].sort()).toEqual(body.eventTypes);
  });
});

describe('GET /admin/events/{id} for the console', () => {
  it('the body as received, the routing it matched, and the trace link', async () => {
    const event = await sendStripe('invoice.paid', { note: 'héllo' });
    await waitForStatus(event.id, 'COMPLETED');
    const detail = await getJson(`/admin/events/${event.id}`);
    expect(detail.body).toEqual({ encoding: 'utf8', data: expect.stringContaining('"note":"héllo"'), bytes: expect.any(Number) });
    expect(Buffer.byteLength(detail.body.data)).toBe(detail.body.bytes);
    expect(detail.routing).toEqual({
      routes: [
        { index: 0, provider: 'stripe', events: ['invoice.*', 'fail.*'], to: ['billing'], hasFilter: false, hasTransform: false },
        { index: 1, provider: 'stripe', events: ['invoice.paid'], to: ['crm'], hasFilter: false, hasTransform: false },
      ],
      destinations: [
        { name: 'billing', type: 'http', target: `${sink.url}/billing` },
        { name: 'crm', type: 'http', target: `http://127.0.0.1:${new URL(sink.url).port}/crm` },
      ],
    });
    expect(JSON.stringify(detail)).not.toMatch(/hunter2|sekrit|k-123|whsec_Mf/);
    expect(detail.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(detail.traceUrl).toBe(`https://tracing.example/trace/${detail.traceId}?from=console`);
    expect(detail.deliveries.map((d: { destination: string; succeeded: boolean }) => [d.destination, d.succeeded]).sort()).toEqual([
      ['billing', true],
      ['crm', true],
    ]);
  });

  it('a body that is not UTF-8 comes as base64, byte for byte', async () => {
    const event = await sendStripe('binary.body');
    const raw = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    await db.pool.query('UPDATE webhook_events SET raw_body = $2 WHERE id = $1', [event.id, raw]);
    const detail = await getJson(`/admin/events/${event.id}`);
    expect(detail.body).toEqual({ encoding: 'base64', data: raw.toString('base64'), bytes: 6 });
    expect(detail.routing).toEqual({ routes: [], destinations: [] });
  });

  it('a GitHub form-encoded body is shown as sent, next to its parsed payload', async () => {
    const json = JSON.stringify({ ref: 'refs/heads/main' });
    const body = `payload=${encodeURIComponent(json)}`;
    const response = await postWebhook(app.baseUrl, 'github', body, {
      'content-type': 'application/x-www-form-urlencoded',
      'x-github-event': 'push',
      'x-github-delivery': unique('delivery-console'),
      'x-hub-signature-256': githubSignature(body, GITHUB_SECRET),
    });
    expect(response.status).toBe(202);
    const detail = await getJson(`/admin/events/${String(response.json!.id)}`);
    expect(detail.contentType).toBe('application/x-www-form-urlencoded');
    expect(detail.body).toEqual({ encoding: 'utf8', data: body, bytes: body.length });
    expect(detail.payload).toEqual({ ref: 'refs/heads/main' });
    expect(detail.routing.destinations.map((d: { name: string }) => d.name)).toEqual(['billing']);
  });
});

describe('POST /admin/events/replay with ids', () => {
  it('replays the picked dead letters and completed events, skips the rest, and they complete', async () => {
    const dead = [await sendStripe('fail.now'), await sendStripe('fail.now')];
    for (const event of dead) await waitForStatus(event.id, 'DEAD_LETTER');
    const done = await sendStripe('invoice.created');
    await waitForStatus(done.id, 'COMPLETED');
    const stuck = await sendStripe('invoice.created');
    await waitForStatus(stuck.id, 'COMPLETED');
    await db.pool.query(`UPDATE webhook_events SET status = 'PROCESSING' WHERE id = $1`, [stuck.id]);
    const unknown = randomUUID();

    sink.behaviour = () => ({ status: 200 });
    const response = await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/events/replay', {
      ids: [dead[0]!.id, dead[1]!.id.toUpperCase(), done.id, stuck.id, unknown, dead[0]!.id],
    });
    expect(response.status).toBe(202);
    expect(response.json.replayed).toBe(3);
    expect(new Set(response.json.skipped)).toEqual(new Set([stuck.id, unknown]));
    for (const event of [...dead, done]) await waitForStatus(event.id, 'COMPLETED');
    expect(await statusOf(stuck.id)).toBe('PROCESSING');
    const detail = await getJson(`/admin/events/${dead[0]!.id}`);
    expect(detail.replays).toBe(1);
    expect(detail.deliveries.at(-1)).toMatchObject({ destination: 'billing', replay: 1, attempt: 1, succeeded: true });
    sink.behaviour = (request) => ({ status: request.body.includes('"fail.') ? 503 : 200 });
  });

  it.each([
    ['an empty list', { ids: [] }],
    ['an id that is not a uuid', { ids: ['nope'] }],
    ['more than 500 ids', { ids: Array.from({ length: 501 }, () => randomUUID()) }],
    ['ids together with a status', { ids: [randomUUID()], status: 'DEAD_LETTER' }],
    ['ids that are not a list', { ids: randomUUID() }],
  ])('refuses %s with 400, replaying nothing', async (_name, body) => {
    const before = (await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE status = 'PENDING'`)).rows[0].n;
    const response = await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/events/replay', body);
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ statusCode: 400, path: '/admin/events/replay' });
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE status = 'PENDING'`)).rows[0].n).toBe(before);
  });
});

describe('GET /admin/overview', () => {
  it('per minute: received, completed and dead-lettered over the last hours, and the queue', async () => {
    const before = await getJson('/admin/overview?hours=1');
    expect(before).toMatchObject({ stepSeconds: 60, from: expect.any(String), to: expect.any(String) });
    expect(before.received).toHaveLength(60);
    expect(before.completed).toHaveLength(60);
    expect(before.deadLettered).toHaveLength(60);
    expect(new Date(before.to).getTime() - new Date(before.from).getTime()).toBe(60 * 60_000);
    expect(before.queue.current).toEqual({ waiting: expect.any(Number), active: expect.any(Number), delayed: expect.any(Number), prioritized: expect.any(Number), failed: expect.any(Number) });
    expect(before.queue.waiting).toHaveLength(60);
    expect(before.queue.waiting.at(-1)).toEqual(expect.any(Number));

    const sum = (series: number[]) => series.reduce((a, b) => a + b, 0);
    const table = async (from: string, to: string) =>
      (
        await db.pool.query(
          `SELECT count(*) FILTER (WHERE received_at >= $1 AND received_at < $2)::int AS received,
                  count(*) FILTER (WHERE status = 'COMPLETED' AND updated_at >= $1 AND updated_at < $2)::int AS completed,
                  count(*) FILTER (WHERE status = 'DEAD_LETTER' AND updated_at >= $1 AND updated_at < $2)::int AS dead
             FROM webhook_events`,
          [from, to],
        )
      ).rows[0] as { received: number; completed: number; dead: number };
    // The same numbers the table holds (retried: an event may be in flight between the two reads).
    await waitFor('the overview to agree with the table', async () => {
      const now = await getJson('/admin/overview?hours=1');
      const expected = await table(now.from, now.to);
      return expected.received > 0 && sum(now.received) === expected.received && sum(now.completed) === expected.completed && sum(now.deadLettered) === expected.dead;
    });
  });

  it('new events show in the current minute on the next refresh (after the short cache)', async () => {
    const first = await getJson('/admin/overview?hours=2');
    const last = first.received.at(-1) as number;
    await sendStripe('overview.tick');
    await waitFor(
      'the new event in the overview',
      async () => {
        const next = await getJson('/admin/overview?hours=2');
        return next.to !== first.to || next.received.at(-1) > last;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
  });

  it.each(['?hours=0', '?hours=25', '?hours=two'])('answers %s with 400', async (query) => {
    expect((await adminRequest(app.baseUrl, TOKEN, 'GET', `/admin/overview${query}`)).status).toBe(400);
  });
});

describe('GET /admin/destinations', () => {
  it('each configured destination, its recent attempts and success rate, no credentials; unknown names from attempts too', async () => {
    const eventId = (await sendStripe('dest.summary')).id;
    const recent = new Date(Date.now() - 60_000);
    await db.pool.query(
      `INSERT INTO delivery_attempts (event_id, destination, attempt, succeeded, status_code, error, duration_ms, at)
       VALUES ($1, 'crm', 1, false, 502, 'HTTP 502 Bad Gateway', 40, $2), ($1, 'crm', 2, true, 200, NULL, 20, $2),
              ($1, 'crm', 3, true, 200, NULL, 30, $2), ($1, 'crm', 4, true, 200, NULL, 30, $2),
              ($1, 'retired', 1, true, 200, NULL, 5, $2), ($1, 'idle', 1, false, NULL, 'old', 5, now() - interval '2 hours')`,
      [eventId, recent],
    );
    const body = await waitFor('the destinations summary past its cache', async () => {
      const value = await getJson('/admin/destinations');
      const crm = value.items.find((item: { name: string }) => item.name === 'crm');
      return crm && crm.recent.failed >= 1 ? value : undefined;
    });
    expect(body).toMatchObject({ windowMinutes: 60, bucketMinutes: 5, from: expect.any(String) });
    expect(body.items.map((item: { name: string }) => item.name)).toEqual(['billing', 'crm', 'idle', 'retired']);
    const crm = body.items.find((item: { name: string }) => item.name === 'crm');
    expect(crm).toMatchObject({
      name: 'crm',
      type: 'http',
      target: `http://127.0.0.1:${new URL(sink.url).port}/crm`,
      configured: true,
      // Destination protection: not paused, no breaker or rate limit configured, nothing waiting.
      state: { paused: false, pausedAt: null, circuit: null, consecutiveFailures: 0, circuitOpenedAt: null, nextProbeAt: null, waiting: { events: 0, oldestSince: null }, rateLimit: null, circuitBreaker: null },
      recent: {
        lastFailure: { at: recent.toISOString(), statusCode: 502, error: 'HTTP 502 Bad Gateway' },
        buckets: expect.any(Array),
      },
    });
    expect(crm.recent.buckets).toHaveLength(12);
    expect(crm.recent.attempts).toBeGreaterThanOrEqual(4);
    expect(crm.recent.successRate).toBeCloseTo(crm.recent.succeeded / crm.recent.attempts);
    expect(crm.recent.buckets.reduce((a: number, b: { attempts: number }) => a + b.attempts, 0)).toBe(crm.recent.attempts);
    const idle = body.items.find((item: { name: string }) => item.name === 'idle');
    expect(idle.recent).toMatchObject({ attempts: 0, successRate: null, lastFailure: null, lastAttemptAt: null });
    expect(body.items.find((item: { name: string }) => item.name === 'retired')).toMatchObject({ configured: false, type: 'unknown', target: null, state: null });
    expect(JSON.stringify(body)).not.toMatch(/hunter2|sekrit|k-123|whsec_Mf/);
  });
});

describe('TRACE_URL_TEMPLATE', () => {
  it('is optional, and must be an http(s) URL with {traceId} in it', () => {
    expect(loadConfig({}).console.traceUrlTemplate).toBeUndefined();
    expect(loadConfig({ TRACE_URL_TEMPLATE: '' }).console.traceUrlTemplate).toBeUndefined();
    expect(loadConfig({ TRACE_URL_TEMPLATE: 'http://jaeger:16686/trace/{traceId}' }).console.traceUrlTemplate).toBe('http://jaeger:16686/trace/{traceId}');
    for (const bad of ['http://jaeger:16686/trace/', 'javascript:alert({traceId})', 'jaeger/{traceId}']) {
      expect(() => loadConfig({ TRACE_URL_TEMPLATE: bad })).toThrow('Invalid configuration: TRACE_URL_TEMPLATE: must be an http(s) URL containing {traceId}');
    }
  });
});

describe('GET /console', () => {
  it('is not served by the worker role', async () => {
    const worker = await startInProcessService({ DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: `${ns.prefix}-w`, SERVICE_ROLE: 'worker', ADMIN_API_TOKEN: TOKEN });
    try {
      expect((await fetch(`${worker.baseUrl}/console`)).status).toBe(404);
      expect((await fetch(`${worker.baseUrl}/admin/events`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    } finally {
      await worker.stop();
    }
  });

  it('answers 503 in the error shape when the console was not built', async () => {
    const app = express();
    app.use(consoleRouter({ assetsDir: '/nonexistent/console' }));
    app.use(errorMiddleware(createLogger('test')));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/console`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ statusCode: 503, path: '/console', message: 'The console is not built: run npm run build' });
    } finally {
      server.close();
    }
  });
});
