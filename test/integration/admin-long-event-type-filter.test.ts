import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

/**
 * Review reproduction (rev-admin): the ingress stores event types up to 255 characters (MAX_IDENTIFIER_LENGTH, the
 * parse-json-payload check), and GET /admin/events/facets offers them to the console's event-type filter, but the
 * admin filter (event-filter.ts: eventType max 200) refuses any longer than 200 with 400. An operator cannot list,
 * count or find the events of such a type (say a namespaced CloudEvents-style type) by type at all.
 */

const TOKEN = 'adm_long_type_7c21';
const SECRET = 'whsec_long_type';
const TYPE = `com.example.billing.${'invoice-state-changed.'.repeat(10)}v1`;

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
    STRIPE_WEBHOOK_SECRET: SECRET,
  });
});

afterAll(async () => {
  await app?.stop();
  await ns?.cleanup();
  await db?.drop();
});

describe('an event type the ingress stores can be filtered on', () => {
  it('a 242-character event type: accepted on ingest, offered by facets, listed and counted by its filter', async () => {
    expect(TYPE.length).toBeGreaterThan(200);
    expect(TYPE.length).toBeLessThanOrEqual(255);
    const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_long_type_1', type: TYPE });
    const ingest = await postWebhook(app.baseUrl, 'stripe', body, headers);
    expect(ingest.status).toBe(202);

    const facets = await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/events/facets');
    expect(facets.json.eventTypes).toContain(TYPE);

    const list = await adminRequest(app.baseUrl, TOKEN, 'GET', `/admin/events?eventType=${encodeURIComponent(TYPE)}`);
    const counts = await adminRequest(app.baseUrl, TOKEN, 'GET', `/admin/events/counts?eventType=${encodeURIComponent(TYPE)}`);
    expect({ list: list.status, listed: list.json?.items?.map((item: { eventType: string }) => item.eventType), counts: counts.status, message: list.json?.message }).toEqual({
      list: 200,
      listed: [TYPE],
      counts: 200,
      message: undefined,
    });
  });
});
