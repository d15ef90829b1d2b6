import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

/**
 * Review (bad-input-review): bad input to the admin API gets a clear 4xx in the contract's error shape and leaves
 * nothing behind. Found against a running service:
 * - pause/resume never read their body: `{bad` sent as JSON paused the destination (200) instead of a 400;
 * - query parameters a route does not take were dropped, and the filter with them: `?status[]=DEAD_LETTER` (the
 *   parser keeps the brackets in the name) or `?stauts=…` listed every event; one given twice was answered
 *   "expected string, received array"; `limit=1e2` and `limit=0x10` were read as 100 and 16;
 * - a path segment that does not decode (`/admin/events/%ZZ`) was answered only "Bad request".
 */

const TOKEN = 'adm_bad_input_review_7c2d';

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routesFile: TempRoutesFile;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  routesFile = writeRoutesFile({ destinations: { billing: { url: 'http://127.0.0.1:9/hooks' } }, routes: [{ provider: 'stripe', to: ['billing'] }] });
  app = await startInProcessService({
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    SERVICE_ROLE: 'ingress',
    ADMIN_API_TOKEN: TOKEN,
    ROUTES_FILE: routesFile.path,
  });
  // Two events in different statuses, so a filter dropped on the way shows as a longer list.
  await db.pool.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, status, payload, raw_body, content_type)
     VALUES ('stripe', 'evt_dead', 'invoice.paid', 'DEAD_LETTER', '{}', '\\x7b7d', 'application/json'),
            ('stripe', 'evt_done', 'invoice.paid', 'COMPLETED', '{}', '\\x7b7d', 'application/json')`,
  );
});

afterAll(async () => {
  await app?.stop();
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

const ERROR_SHAPE = {
  statusCode: expect.any(Number),
  timestamp: expect.any(String),
  path: expect.any(String),
  message: expect.any(String),
  correlationId: expect.any(String),
  traceId: expect.any(String),
  code: expect.any(String),
};

/** A POST with a raw body and a content type, as curl sends it. */
const rawPost = async (path: string, body: string, contentType: string) => {
  const response = await fetch(`${app.baseUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': contentType },
    body: new TextEncoder().encode(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
};

const pausesRecorded = async () => Number((await db.pool.query('SELECT count(*)::int AS n FROM destination_pauses')).rows[0].n);

describe('pause and resume refuse a malformed JSON body before they act', () => {
  it('POST …/pause with `{bad` as application/json: 400 in the error shape, and the destination is not paused', async () => {
    const { status, json } = await rawPost('/admin/destinations/billing/pause', '{bad', 'application/json');
    expect({ status, json }).toEqual({ status: 400, json: { ...ERROR_SHAPE, statusCode: 400, message: 'Malformed request body', code: 'MALFORMED_BODY' } });
    expect(await pausesRecorded()).toBe(0);
    const destinations = await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/destinations');
    expect(destinations.json.items.find((item: { name: string }) => item.name === 'billing').state.paused).toBe(false);
  });

  it('POST …/resume with `{bad` as application/json: 400, and a recorded pause stays', async () => {
    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/billing/pause')).status).toBe(200);
    try {
      const { status, json } = await rawPost('/admin/destinations/billing/resume', '{"reason": ', 'application/json');
      expect({ status, code: json.code }).toEqual({ status: 400, code: 'MALFORMED_BODY' });
      expect(await pausesRecorded()).toBe(1);
    } finally {
      expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/billing/resume')).status).toBe(200);
    }
  });

  it.each(['{"reason":"maintenance"}', 'null', '"x"'])('a JSON body %s is still taken (and ignored)', async (body) => {
    expect((await rawPost('/admin/destinations/billing/pause', body, 'application/json')).status).toBe(200);
    expect((await rawPost('/admin/destinations/billing/resume', body, 'application/json')).status).toBe(200);
  });
});

describe('query parameters: only the route’s own, each once, numbers in decimal digits', () => {
  it.each([
    ['/admin/events?status[]=DEAD_LETTER', /^"status\[\]": not a parameter of this route \(it takes status, provider, eventType, from, to, q, limit, cursor\)$/],
    ['/admin/events?status[a]=DEAD_LETTER', /^"status\[a\]": not a parameter/],
    ['/admin/events?stauts=DEAD_LETTER', /^"stauts": not a parameter/],
    ['/admin/events?__proto__=x', /^"__proto__": not a parameter/],
    ['/admin/events/counts?provider[]=stripe', /^"provider\[\]": not a parameter/],
    ['/admin/overview?hour=2', /^"hour": not a parameter of this route \(it takes hours\)$/],
    ['/admin/events?status=DEAD_LETTER&status=COMPLETED', /^status: given more than once; give it once$/],
    ['/admin/events?limit=1&limit=2', /^limit: given more than once/],
    ['/admin/events/counts?provider=a&provider=b', /^provider: given more than once/],
    ['/admin/overview?hours=1&hours=2', /^hours: given more than once/],
    ['/admin/events?limit=1e2', /^limit: must be a whole number in decimal digits$/],
    ['/admin/events?limit=0x10', /^limit: must be a whole number/],
    ['/admin/events?limit=%20', /^limit: must be a whole number/],
    ['/admin/events?limit=1.0', /^limit: must be a whole number/],
    ['/admin/overview?hours=1e1', /^hours: must be a whole number/],
    ['/admin/events?limit=501', /^limit: Too big/],
  ])('GET %s: 400 naming the parameter', async (path, message) => {
    const { status, json } = await adminRequest(app.baseUrl, TOKEN, 'GET', path);
    expect({ status, json }).toEqual({ status: 400, json: { ...ERROR_SHAPE, statusCode: 400, path: path.split('?')[0], code: 'BAD_REQUEST' } });
    expect(json.message).toMatch(message);
  });

  it.each([
    ['/admin/events?status=DEAD_LETTER&limit=050', 1],
    ['/admin/events?status=&provider=&limit=&cursor=', 2],
    ['/admin/events', 2],
  ])('GET %s still lists (%d events)', async (path, count) => {
    const { status, json } = await adminRequest(app.baseUrl, TOKEN, 'GET', path);
    expect({ status, items: json.items?.length }).toEqual({ status: 200, items: count });
  });

  it('counts still take (and ignore) status, and the overview its hours', async () => {
    expect((await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/events/counts?status=PENDING&provider=stripe')).json.counts).toMatchObject({ DEAD_LETTER: 1, COMPLETED: 1 });
    expect((await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/overview?hours=2')).status).toBe(200);
  });
});

describe('a path segment that does not decode', () => {
  it.each(['/admin/events/%ZZ', '/admin/events/%E0%A4/replay', '/admin/destinations/%ZZ/pause'])('%s: 400 saying the path is malformed', async (path) => {
    const method = path.endsWith('/replay') || path.endsWith('/pause') ? 'POST' : 'GET';
    const { status, json } = await adminRequest(app.baseUrl, TOKEN, method, path);
    expect({ status, json }).toEqual({ status: 400, json: { ...ERROR_SHAPE, statusCode: 400, path, code: 'BAD_REQUEST' } });
    expect(json.message).toMatch(/^The URL path has a malformed percent-encoding/);
    expect(await pausesRecorded()).toBe(0);
  });
});
