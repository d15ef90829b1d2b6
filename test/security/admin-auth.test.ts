import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent, request } from 'undici';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { stripeSignatureHeader } from '../support/provider-simulator.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { leaks, SECRETS } from './support/signers.js';

/** The admin API refuses every request without exactly the configured bearer token, on every route and method. */

const TOKEN = SECRETS.admin;
let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let disabled: InProcessService;
let storedId: string;
const agent = new Agent();

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  const common = { DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, STRIPE_WEBHOOK_SECRET: SECRETS.stripe, SERVICE_ROLE: 'ingress' };
  [app, disabled] = await Promise.all([startInProcessService({
      ...common,
      ADMIN_API_TOKEN: TOKEN,
      // The test below sends ~2,500 wrong tokens from one address to check what each is answered; the budget that
      // turns them into 429s after 20 a minute has its own test (admin-auth-failure-budget.test.ts).
      ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE: '100000',
    }), startInProcessService(common)]);
  // One stored event, so a route that wrongly answered would have something to leak.
  const body = JSON.stringify({ id: 'evt_admin_security', object: 'event', type: 'invoice.paid', data: { object: { card: 'card_marker_secret' } } });
  const response = await fetch(`${app.baseUrl}/webhooks/stripe`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignatureHeader(body, SECRETS.stripe) } });
  expect(response.status).toBe(202);
  storedId = ((await response.json()) as { id: string }).id;
});

afterAll(async () => {
  await app?.stop();
  await disabled?.stop();
  await agent.close();
  await ns?.cleanup();
  await db?.drop();
});

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

function adminPaths(id: string): string[] {
  return [
    '/admin',
    '/admin/',
    '/admin/events',
    '/admin/events/',
    '/admin/events?status=DEAD_LETTER&limit=500',
    `/admin/events/${id}`,
    `/admin/events/${randomUUID()}`,
    '/admin/events/not-a-uuid',
    `/admin/events/${id}/replay`,
    '/admin/events/replay',
    '/admin/nothing-here',
    // Destination protection: listing, and pause/resume (a configured name or not).
    '/admin/destinations',
    '/admin/destinations/billing/pause',
    '/admin/destinations/billing/resume',
    '/admin/destinations/unknown/pause',
    // Case and encoding variants that Express may still route to the admin router.
    '/ADMIN/events',
    '/Admin/Events',
    `/admin/EVENTS/${id}`,
  ];
}

/** Authorization headers (and other places a token might be smuggled) that must all be refused. */
function wrongCredentials(): [string, Record<string, string>, string][] {
  const flip = (value: string, index: number) => value.slice(0, index) + (value[index] === 'a' ? 'b' : 'a') + value.slice(index + 1);
  const swapCase = TOKEN.replace(/[a-z]/g, (c) => c.toUpperCase());
  const cases: [string, string | undefined][] = [
    ['missing', undefined],
    ['empty', ''],
    ['scheme only', 'Bearer'],
    ['scheme and space', 'Bearer '],
    ['wrong token', `Bearer ${'x'.repeat(TOKEN.length)}`],
    ['prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['token plus a character', `Bearer ${TOKEN}x`],
    ['first character changed', `Bearer ${flip(TOKEN, 0)}`],
    ['middle character changed', `Bearer ${flip(TOKEN, Math.floor(TOKEN.length / 2))}`],
    ['last character changed', `Bearer ${flip(TOKEN, TOKEN.length - 1)}`],
    ['upper-cased token', `Bearer ${swapCase}`],
    ['token twice', `Bearer ${TOKEN}${TOKEN}`],
    ['token, comma, token', `Bearer ${TOKEN},${TOKEN}`],
    ['token then another word', `Bearer ${TOKEN} extra`],
    ['Basic scheme', `Basic ${TOKEN}`],
    ['Basic with base64', `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`],
    ['Token scheme', `Token ${TOKEN}`],
    ['no scheme', TOKEN],
    ['no space after scheme', `Bearer${TOKEN}`],
    ['a Latin-1 look-alike character', `Bearer ${TOKEN.slice(0, -1)}\u00e9`],
    ['a very long token', `Bearer ${'a'.repeat(8000)}`],
  ];
  const list: [string, Record<string, string>, string][] = cases.map(([name, header]): [string, Record<string, string>, string] => [name, header === undefined ? {} : { authorization: header }, '']);
  list.push(['token in another header', { 'x-admin-token': TOKEN, 'x-api-key': TOKEN }, '']);
  list.push(['token in the query', {}, `token=${TOKEN}&access_token=${TOKEN}`]);
  list.push(['token in a cookie', { cookie: `token=${TOKEN}; authorization=Bearer%20${TOKEN}` }, '']);
  return list;
}

/** Whether a response carries event data (error bodies echo the path, which may hold the id: that is fine). */
const showsEventData = (text: string) => /evt_admin_security|"items"|"provider"|"deliveries"|"replayed"|card_marker_secret/.test(text);

async function call(baseUrl: string, method: string, path: string, headers: Record<string, string>, query = '') {
  const url = `${baseUrl}${path}${query ? (path.includes('?') ? '&' : '?') + query : ''}`;
  const withBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
  const response = await request(url, {
    method: method as 'GET',
    headers: withBody ? { ...headers, 'content-type': 'application/json' } : headers,
    body: withBody ? JSON.stringify({ status: 'DEAD_LETTER' }) : undefined,
    dispatcher: agent,
  });
  return { status: response.statusCode, text: await response.body.text(), headers: response.headers };
}

describe('admin API authentication', () => {
  it('sanity: the right token opens it (so the refusals below are not vacuous)', async () => {
    const listed = await call(app.baseUrl, 'GET', '/admin/events', { authorization: `Bearer ${TOKEN}` });
    expect(listed.status).toBe(200);
    expect(listed.text).toContain(storedId);
    const shown = await call(app.baseUrl, 'GET', `/admin/events/${storedId}`, { authorization: `bearer   ${TOKEN}` });
    expect(shown.status).toBe(200);
  });

  it('refuses missing, wrong and near-miss tokens on every admin route and method, with 401 and nothing else', async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const [name, headers, query] of wrongCredentials()) {
      for (const path of adminPaths(storedId)) {
        for (const method of METHODS) {
          const answer = await call(app.baseUrl, method, path, headers, query);
          checked++;
          const problems: string[] = [];
          if (answer.status !== 401) problems.push(`status ${answer.status}`);
          if (showsEventData(answer.text)) problems.push('event data');
          if (leaks(answer.text).length > 0) problems.push(`leak: ${leaks(answer.text).join(', ')}`);
          if (answer.headers['x-content-type-options'] !== 'nosniff') problems.push('no security headers');
          if (method !== 'HEAD' && answer.status === 401 && JSON.parse(answer.text).statusCode !== 401) problems.push('not the error shape');
          if (problems.length > 0) failures.push(`${method} ${path} [${name}]: ${problems.join('; ')}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(2000);
    // Nothing was replayed by any of those requests.
    const { rows } = await db.pool.query('SELECT status, replayed_at FROM webhook_events WHERE id = $1', [storedId]);
    expect(rows).toEqual([{ status: 'PENDING', replayed_at: null }]);
  });

  it('without ADMIN_API_TOKEN refuses every admin route and method with 403, even with a token', async () => {
    const failures: string[] = [];
    for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }, { authorization: 'Bearer ' }] as Record<string, string>[]) {
      for (const path of adminPaths(storedId)) {
        for (const method of METHODS) {
          const answer = await call(disabled.baseUrl, method, path, headers);
          if (answer.status !== 403 || showsEventData(answer.text)) failures.push(`${method} ${path} ${JSON.stringify(headers)}: ${answer.status}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
