/**
 * A captured GitHub delivery (its signature covers no timestamp) verifies for as long as its replay key is kept, so
 * whoever captured one could re-send it at will: each re-send cost PostgreSQL an INSERT … ON CONFLICT and a lookup,
 * and was answered 200 `duplicate: true`, with no budget (the webhook budgets counted failed verifications only).
 * Now a client address gets DUPLICATE_WEBHOOK_LIMIT_PER_MINUTE duplicates a minute answered 200, then 429 with
 * Retry-After; a re-send this process has refused once is refused again before PostgreSQL, whatever unsigned delivery
 * id it carries. Another client's deliveries, and new events from the flooding client, are unaffected.
 *
 * A real ingress process (services/main.ts), its PostgreSQL reached through a proxy the test can cut; the clients are
 * loopback source addresses (127.0.0.5 the flooder, 127.0.0.6 another sender), each a budget key of its own.
 */
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { githubSignature } from '../support/signing.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'github-duplicate-budget-secret';
const LIMIT = 5;
const FLOODER = '127.0.0.5';
const OTHER = '127.0.0.6';

let db: TestDatabase;
let ns: TestQueueNamespace;
let pgProxy: TcpProxy;
let ingress: ServiceProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  const pgUrl = new URL(db.url);
  pgProxy = new TcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
  pgUrl.port = String(await pgProxy.start());
  ingress = await new ServiceProcess(
    {
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: pgUrl.toString(),
      DATABASE_POOL_SIZE: '4',
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      GITHUB_WEBHOOK_SECRET: SECRET,
      DUPLICATE_WEBHOOK_LIMIT_PER_MINUTE: String(LIMIT),
    },
    await freePort(),
  ).start();
}, 120_000);

afterAll(async () => {
  await ingress?.kill();
  await pgProxy?.stop();
  await ns?.cleanup();
  await db?.drop();
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: Record<string, unknown>;
}

/** POST /webhooks/github from the source address `from`, on a connection of its own. */
function post(body: string, headers: Record<string, string>, from: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: ingress.port, path: '/webhooks/github', method: 'POST', localAddress: from, agent: false, headers },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let counter = 0;
/** A genuine GitHub delivery: its body, signature and (unsigned) delivery id, as captured on the wire. */
function delivery(): { body: string; headers: Record<string, string> } {
  const n = ++counter;
  const body = JSON.stringify({ action: 'opened', issue: { number: n, title: `issue ${n}` } });
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': githubSignature(body, SECRET),
      'x-github-event': 'issues',
      'x-github-delivery': `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    },
  };
}

async function received(outcome: string): Promise<number> {
  const text = await (await fetch(`${ingress.baseUrl}/metrics`)).text();
  return Number(new RegExp(`^webhook_events_received_total\\{provider="github",outcome="${outcome}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

/**
 * Re-sends `captured` from `from` until it is refused, and returns the answers of the last window. The budget's
 * windows are fixed minutes: when the refusal did not come after exactly LIMIT duplicates in one window, or came with
 * under 20 s of it left, the flood starts again in the next window.
 */
async function spendBudget(captured: { body: string; headers: Record<string, string> }, from: string): Promise<{ statuses: number[]; refused: Answer; refusals: number }> {
  let statuses: number[] = [];
  let refused: Answer | undefined;
  let refusals = 0;
  for (let round = 0; round < 3; round++) {
    statuses = [];
    refused = undefined;
    for (let i = 0; i < 3 * LIMIT && !refused; i++) {
      const answer = await post(captured.body, captured.headers, from);
      statuses.push(answer.status);
      if (answer.status === 429) {
        refused = answer;
        refusals++;
      }
    }
    // Before the fix: every re-send is answered 200, however many.
    expect(refused).toBeDefined();
    const retryAfter = Number(refused!.headers['retry-after']);
    if (statuses.length === LIMIT + 1 && retryAfter >= 20) break;
    await delay((retryAfter + 1) * 1000);
  }
  return { statuses, refused: refused!, refusals };
}

it('a flood of one captured delivery from one client gets 429 past the budget; other clients and new events are unaffected', async () => {
  const captured = delivery();
  expect((await post(captured.body, captured.headers, FLOODER)).status).toBe(202);

  const spent = await spendBudget(captured, FLOODER);
  const { statuses, refused } = spent;
  let refusals = spent.refusals;
  expect(statuses).toEqual([...Array<number>(LIMIT).fill(200), 429]);
  const retryAfter = Number(refused.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  // The contract's error shape.
  expect(refused.json).toMatchObject({ statusCode: 429, path: '/webhooks/github', code: 'TOO_MANY_REQUESTS' });
  for (const field of ['timestamp', 'message', 'correlationId', 'traceId']) expect(refused.json).toHaveProperty(field);

  // The same signed body under a new (unsigned) delivery id is the same event: refused too.
  const renamed = { ...captured.headers, 'x-github-delivery': '00000000-0000-4000-8000-ffffffffffff' };
  expect((await post(captured.body, renamed, FLOODER)).status).toBe(429);
  refusals++;

  // Refused before PostgreSQL: with PostgreSQL cut off, the re-sends are still answered 429 at once, while a new
  // event from the same client, which needs PostgreSQL, is answered 503.
  await pgProxy.stop();
  try {
    expect((await post(captured.body, captured.headers, FLOODER)).status).toBe(429);
    expect((await post(captured.body, { ...renamed, 'x-github-delivery': '00000000-0000-4000-8000-eeeeeeeeeeee' }, FLOODER)).status).toBe(429);
    refusals += 2;
    const whileCut = delivery();
    expect((await post(whileCut.body, whileCut.headers, FLOODER)).status).toBe(503);
  } finally {
    await pgProxy.restart();
  }

  // New events from the flooding client are stored (PostgreSQL back: the pool reconnects).
  const fresh = delivery();
  const accepted = await waitFor('a new event from the flooding client to be accepted', async () => {
    const answer = await post(fresh.body, fresh.headers, FLOODER);
    return answer.status === 202 ? answer : undefined;
  });
  expect(accepted.json).toMatchObject({ status: 'PENDING', duplicate: false });

  // Another client's re-send of the same delivery is answered as a duplicate (its own budget), its new events stored.
  const other = await post(captured.body, captured.headers, OTHER);
  expect({ status: other.status, duplicate: other.json.duplicate }).toEqual({ status: 200, duplicate: true });
  const othersOwn = delivery();
  expect((await post(othersOwn.body, othersOwn.headers, OTHER)).status).toBe(202);

  // Counted under their own outcome, and one warn line per window for the client whose budget was spent (and none for
  // the other client).
  expect(await received('duplicate_rate_limited')).toBe(refusals);
  const warned = ingress.jsonLogs().filter((line) => String(line.message).startsWith('duplicate webhooks from this client address reached the limit'));
  expect(warned.length).toBeGreaterThanOrEqual(1);
  for (const line of warned) expect({ client: line.client, provider: line.provider, limit: line.limit }).toEqual({ client: FLOODER, provider: 'github', limit: LIMIT });
}, 240_000);

it('a body never stored, sent under a stored delivery id by a client past its budget, is still stored under an id of its own', async () => {
  // Answered as a duplicate by its id only: its body's digest (replay key) is held by no stored event, so the budget
  // must not remember the webhook by it. Were it remembered, the body's own delivery would be refused 429, and lost.
  const from = '127.0.0.7';
  const flooded = delivery();
  const stored = delivery();
  for (const webhook of [flooded, stored]) expect((await post(webhook.body, webhook.headers, from)).status).toBe(202);
  expect((await spendBudget(flooded, from)).statuses.at(-1)).toBe(429);

  // Under the id of a stored event this client has not re-sent: PostgreSQL finds it a duplicate (by id), refused.
  const unseen = delivery();
  const underStoredId = await post(unseen.body, { ...unseen.headers, 'x-github-delivery': stored.headers['x-github-delivery']! }, from);
  expect(underStoredId.status).toBe(429);
  const own = await post(unseen.body, unseen.headers, from);
  expect({ status: own.status, duplicate: own.json.duplicate }).toEqual({ status: 202, duplicate: false });
}, 240_000);

// Found in review: the re-send that spends the budget was remembered by its id even when only its body (replay key)
// matched a stored event, so a captured body re-sent under a chosen, unsigned delivery id blocked that id's real event.
it('a new event is stored when a captured body was re-sent under its (predicted, unsigned) delivery id', async () => {
  const from = '127.0.0.8';
  const captured = delivery();
  expect((await post(captured.body, captured.headers, from)).status).toBe(202);
  // The future delivery's id, predicted (sequential ids of an hmac provider, or any id the attacker wants blocked).
  const future = delivery();
  const futureId = future.headers['x-github-delivery']!;
  // Spend the budget with re-sends of the captured body whose LIMIT-th carries the future id: it reaches PostgreSQL
  // (its replay key is not remembered yet), is a duplicate by replay key, and recordDuplicate remembers it by the id.
  let spentStatus = 0;
  for (let round = 0; round < 3 && spentStatus !== 429; round++) {
    for (let i = 0; i < LIMIT - 1; i++) await post(captured.body, captured.headers, from);
    const last = await post(captured.body, { ...captured.headers, 'x-github-delivery': futureId }, from);
    const next = await post(captured.body, captured.headers, from);
    spentStatus = next.status;
    if (last.status !== 200 || next.status !== 429 || Number(next.headers['retry-after']) < 20) {
      spentStatus = 0;
      await delay((Number(next.headers['retry-after'] ?? 1) + 1) * 1000);
    }
  }
  expect(spentStatus).toBe(429);
  // The genuine new event with that id, from the same client key: never stored before.
  const own = await post(future.body, future.headers, from);
  expect({ status: own.status, duplicate: own.json.duplicate }).toEqual({ status: 202, duplicate: false });
}, 240_000);
