import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
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

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  app = await startInProcessService({
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    SERVICE_ROLE: 'ingress',
    ADMIN_API_TOKEN: TOKEN,
  });
});

afterAll(async () => {
  await app?.stop();
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
