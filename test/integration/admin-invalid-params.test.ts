import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

/**
 * Review reproduction (rev-admin): parameters the admin API's validation lets through but PostgreSQL refuses reach
 * the database and come back as 500 "Internal server error" (logged as an unhandled error), where the contract wants
 * a clear 4xx naming the parameter:
 * - a NUL character (%00, or \u0000 in a JSON body) in provider / eventType / q: PostgreSQL text cannot hold it
 *   (22021 invalid byte sequence for encoding "UTF8": 0x00);
 * - year 0000 in from / to: zod's ISO datetime accepts it, PostgreSQL has no year 0 (22008 out of range). The cursor
 *   check already refuses it ([1-9]\d{3}); the filters do not.
 */

const TOKEN = 'adm_invalid_params_5e1f';

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
});

afterAll(async () => {
  await app?.stop();
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

const expectClientError = (path: string, response: { status: number; json: any }) => {
  expect({ path, status: response.status, code: response.json?.code }).toEqual({ path, status: 400, code: 'BAD_REQUEST' });
};

describe('filters PostgreSQL cannot take are a 400, not a 500', () => {
  it.each([
    '/admin/events?provider=%00abc',
    '/admin/events?eventType=%00',
    '/admin/events?q=abc%00',
    '/admin/events/counts?provider=%00',
    '/admin/events?from=0000-01-01T00:00:00Z',
    '/admin/events?to=0000-06-01T00:00:00Z',
    '/admin/events/counts?from=0000-01-01T00:00:00Z',
  ])('GET %s', async (path) => {
    expectClientError(path, await adminRequest(app.baseUrl, TOKEN, 'GET', path));
  });

  it('POST /admin/events/replay with a NUL in provider', async () => {
    const path = '/admin/events/replay';
    expectClientError(path, await adminRequest(app.baseUrl, TOKEN, 'POST', path, { status: 'DEAD_LETTER', provider: 'a\u0000b' }));
  });
});

describe('more values the checks refuse before PostgreSQL sees them', () => {
  it.each([
    // PostgreSQL takes zone offsets up to ±15:59 (22009 "time zone displacement out of range" beyond).
    '/admin/events?from=2026-01-01T00:00:00%2B16:00',
    '/admin/events?to=2026-01-01T00:00:00-23:59',
    '/admin/events/counts?to=2026-01-01T00:00:00%2B23:00',
    '/admin/events/counts?eventType=a%00',
    '/admin/events/counts?q=%00',
  ])('GET %s', async (path) => {
    const response = await adminRequest(app.baseUrl, TOKEN, 'GET', path);
    expectClientError(path, response);
    // The 400 names the parameter, as every other validation failure does.
    expect(response.json.message).toMatch(/^(from|to|eventType|q): /);
  });

  it.each(['/admin/events?from=2026-01-01T00:00:00%2B15:59', '/admin/events?from=0001-01-01T00:00:00Z', '/admin/events/counts?to=9999-12-31T23:59:59-15:00'])(
    'GET %s is still a valid filter',
    async (path) => {
      expect((await adminRequest(app.baseUrl, TOKEN, 'GET', path)).status).toBe(200);
    },
  );
});

describe('admin POST bodies are JSON or nothing', () => {
  /** A POST with a raw body and content type (or none), as curl sends it. */
  const post = async (path: string, body?: string, contentType?: string) => {
    const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}`, 'x-correlation-id': 'admin-body-check' };
    if (contentType) headers['content-type'] = contentType;
    // Bytes, not a string: fetch would label a string text/plain on its own.
    const response = await fetch(`${app.baseUrl}${path}`, { method: 'POST', headers, body: body === undefined ? undefined : new TextEncoder().encode(body) });
    const text = await response.text();
    return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };
  const unknownEvent = '/admin/events/00000000-0000-4000-8000-000000000000/replay';

  it("curl -d '{\"status\":\"DEAD_LETTER\"}' without a JSON content type: 415 saying the body must be JSON, in the contract's error shape", async () => {
    const { status, json } = await post('/admin/events/replay', '{"status":"DEAD_LETTER"}', 'application/x-www-form-urlencoded');
    expect(status).toBe(415);
    expect(json).toEqual({
      statusCode: 415,
      timestamp: expect.any(String),
      path: '/admin/events/replay',
      message:
        "The request body must be JSON, sent with Content-Type: application/json (got application/x-www-form-urlencoded, which curl -d sends unless given -H 'content-type: application/json')",
      correlationId: 'admin-body-check',
      traceId: expect.any(String),
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
  });

  it.each([
    ['/admin/events/replay', 'text/plain'],
    ['/admin/events/replay', undefined],
    [unknownEvent, 'application/x-www-form-urlencoded'],
    ['/admin/destinations/billing/pause', 'application/x-www-form-urlencoded'],
    ['/admin/destinations/billing/resume', 'text/plain'],
  ])('POST %s with a body of type %s: 415', async (path, type) => {
    const { status, json } = await post(path, '{"status":"DEAD_LETTER"}', type);
    expect({ status, code: json?.code }).toEqual({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(json?.message).toContain(`(got ${type ?? 'no Content-Type'}`);
  });

  it('a +json type is JSON', async () => {
    expect(await post('/admin/events/replay', '{"status":"DEAD_LETTER"}', 'application/vnd.api+json; charset=utf-8')).toEqual({ status: 202, json: { replayed: 0 } });
  });

  it('a bulk replay with no body at all: 400 saying what the body must be', async () => {
    for (const type of [undefined, 'application/json']) {
      const { status, json } = await post('/admin/events/replay', undefined, type);
      expect({ status, message: json?.message }).toEqual({ status: 400, message: 'body: a JSON object is required: {"status":"DEAD_LETTER","provider"?} or {"ids":[…]}' });
    }
  });

  it('routes that take no body still take an empty request, with or without a content type (curl -X POST, curl -d "")', async () => {
    for (const type of [undefined, 'application/x-www-form-urlencoded']) {
      expect((await post('/admin/destinations/billing/pause', type ? '' : undefined, type)).status).toBe(200);
      expect((await post('/admin/destinations/billing/resume', type ? '' : undefined, type)).status).toBe(200);
      expect((await post(unknownEvent, type ? '' : undefined, type)).status).toBe(404);
    }
    expect((await post('/admin/destinations/billing/pause', '{}', 'application/json')).status).toBe(200);
    expect((await post('/admin/destinations/billing/resume', '{}', 'application/json')).status).toBe(200);
  });
});
