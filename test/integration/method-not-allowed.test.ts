import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

/**
 * A path the service serves, asked for by a method it does not take, is a 405 with `Allow` (RFC 9110 §15.5.6) in the
 * contract's error shape; it was a 404 "Cannot GET /webhooks/stripe", which told a client the path was wrong when
 * the method was. A path nothing serves stays a 404.
 */

const TOKEN = 'adm_method_not_allowed_51e0';

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
    SERVICE_ROLE: 'all',
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

async function request(method: string, path: string, token?: string): Promise<Response> {
  return fetch(`${app.baseUrl}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
}

it.each([
  ['GET', '/webhooks/stripe', 'POST'],
  ['PUT', '/webhooks/stripe', 'POST'],
  ['POST', '/health/live', 'GET, HEAD'],
  ['DELETE', '/metrics', 'GET, HEAD'],
  ['POST', '/console', 'GET, HEAD'],
])('%s %s is a 405 naming what the path takes (Allow: %s)', async (method, path, allow) => {
  const response = await request(method, path);
  expect(response.status).toBe(405);
  expect(response.headers.get('allow')).toBe(allow);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await response.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ statusCode: 405, path, code: 'METHOD_NOT_ALLOWED', message: `${method} is not allowed on ${path}; it takes ${allow}` });
  expect(Object.keys(body)).toEqual(expect.arrayContaining(['statusCode', 'timestamp', 'path', 'message', 'correlationId', 'traceId', 'code']));
});

it('HEAD of a POST-only path is a 405 with no body', async () => {
  const response = await request('HEAD', '/webhooks/stripe');
  expect(response.status).toBe(405);
  expect(response.headers.get('allow')).toBe('POST');
});

it('the admin API answers a wrong method once the token is taken: 401 without it, 405 with it', async () => {
  expect((await request('DELETE', '/admin/events')).status).toBe(401);
  const response = await request('DELETE', '/admin/events', TOKEN);
  expect(response.status).toBe(405);
  expect(response.headers.get('allow')).toBe('GET, HEAD');
  const pause = await request('GET', '/admin/destinations/billing/pause', TOKEN);
  expect(pause.status).toBe(405);
  expect(pause.headers.get('allow')).toBe('POST');
  // A path served by GET with a parameter (the event by id) and by POST under it (its replay) is told apart.
  const replay = await request('GET', '/admin/events/00000000-0000-4000-8000-000000000000/replay', TOKEN);
  expect(replay.status).toBe(405);
  expect(replay.headers.get('allow')).toBe('POST');
});

it('what no route serves by any method stays a 404, and the routes themselves answer as before', async () => {
  for (const [method, path] of [['GET', '/nope'], ['POST', '/webhooks'], ['GET', '/console/assets/app-NOPE.js'], ['POST', '/console/assets/app-NOPE.js']] as const) {
    const response = await request(method, path);
    expect(response.status).toBe(404);
    expect(response.headers.get('allow')).toBeNull();
    expect(await response.json()).toMatchObject({ code: 'NOT_FOUND' });
  }
  expect((await request('POST', '/webhooks/stripe')).status).not.toBe(405);
  expect((await request('GET', '/health/live')).status).toBe(200);
  expect((await request('OPTIONS', '/webhooks/stripe')).headers.get('allow')).toBe('POST');
});
