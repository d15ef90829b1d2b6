/**
 * The README's HTTP API tables (and the contract's) write the admin API's list routes with their parameters left
 * empty: `GET /admin/events?status=&provider=&limit=&cursor=`, `GET /admin/events/counts?provider=&eventType=&from=&to=&q=`.
 * Sent as written, or by a form or a script whose variable is unset (`?status=$STATUS`), an empty parameter is one not
 * given: the list answers every event, not 400.
 *
 * Found: each empty parameter was validated as the value "" (no status, no limit, no cursor, no provider is empty),
 * so the URL as the contract writes it answered `400 status: Invalid option: expected one of "PENDING"|…`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const TOKEN = 'docs-admin-query-urls-token';
const SECRET = 'whsec_docs_admin_query_urls';

/** The README's `GET /admin/…?…` request spans that are URLs as written (no `…` or range left to fill in). */
const documented = [...new Set([...readme.matchAll(/`GET (\/admin\/[^`\s]*\?[^`\s]*)`/g)].map((match) => match[1]!))].filter(
  (url) => !url.includes('…') && !url.includes('..'),
);

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let eventId: string;

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
  const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_docs_query_urls' });
  const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
  expect(response.status).toBe(202);
  eventId = String(response.json!.id);
});

afterAll(async () => {
  await app?.stop();
  await ns?.cleanup();
  await db?.drop();
});

describe("the README's admin list URLs with empty parameters, as written", () => {
  it('are the list and the counts', () => {
    expect(documented).toEqual(expect.arrayContaining(['/admin/events?status=&provider=&limit=&cursor=', '/admin/events/counts?provider=&eventType=&from=&to=&q=']));
  });

  it.each(documented)('GET %s answers 200, as if the empty parameters were not given', async (url) => {
    const response = await adminRequest(app.baseUrl, TOKEN, 'GET', url);
    expect({ url, status: response.status, message: response.json?.message }).toEqual({ url, status: 200, message: undefined });
    if (url.startsWith('/admin/events?')) expect(response.json.items.map((item: { id: string }) => item.id)).toEqual([eventId]);
    if (url.startsWith('/admin/events/counts?')) expect(response.json.counts.PENDING).toBe(1);
  });

  it('an empty parameter next to a given one filters on the given one only', async () => {
    const listed = await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/events?status=&provider=stripe&limit=');
    expect(listed.status).toBe(200);
    expect(listed.json.items.map((item: { id: string }) => item.id)).toEqual([eventId]);
    const none = await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/events?status=DEAD_LETTER&provider=');
    expect({ status: none.status, items: none.json.items }).toEqual({ status: 200, items: [] });
    expect((await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/overview?hours=')).status).toBe(200);
  });

  it('a parameter given a value it cannot take is still a 400', async () => {
    for (const url of ['/admin/events?status=BOGUS', '/admin/events?limit=0', '/admin/events?limit=abc']) {
      expect({ url, status: (await adminRequest(app.baseUrl, TOKEN, 'GET', url)).status }).toEqual({ url, status: 400 });
    }
  });
});
