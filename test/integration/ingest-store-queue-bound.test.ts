/**
 * The bound on webhooks waiting to be stored (StoreQueueBudget): while PostgreSQL is silent, verified webhooks queue in
 * the writer only up to the bound; past it a webhook is refused at once, 503 in the contract's error shape with
 * Retry-After and outcome `overloaded`, on both paths (the direct one and Express's), and what is queued never passes
 * the bound. Once PostgreSQL answers again every webhook answered 202 is stored exactly once, and the refused ones
 * were not stored (the sender's retry stores them, once).
 *
 * Real PostgreSQL behind a TCP proxy held silent (new connections too); the service in process, its queue read from
 * the gauge it exports.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import http from 'node:http';
import { StoreQueueBudget } from '../../services/ingress/ingest/store-queue-budget.js';
import { registry } from '../../services/shared/metrics/metrics.js';
import { STORE_QUEUE_BYTES_METRIC, STORE_QUEUE_LIMIT_METRIC } from '../../services/shared/metrics/store-queue-gauge.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

// A silent PostgreSQL answers a batch in flight only at the pool's timeouts (3 s to connect, 20 s per query).
jest.setTimeout(180_000);

const SECRET = 'whsec_store_queue_bound_test';
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const POOL_SIZE = 4;
/** Bodies of ~1 MiB: the bound (8 MiB + 8 KiB with these settings) takes eight of them. */
const PADDING = 'x'.repeat(1_000_000);

interface Answer {
  status: number;
  retryAfter: string | null;
  json: Record<string, unknown> | undefined;
}
interface Sent {
  externalId: string;
  request: { body: string; headers: Record<string, string> };
  answer: Promise<Answer>;
  settled?: Answer;
}

let db: TestDatabase;
let ns: TestQueueNamespace;
let proxy: TcpProxy;
let app: InProcessService;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  const url = new URL(db.url);
  proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
  url.port = String(await proxy.start());
  app = await startInProcessService({
    SERVICE_ROLE: 'ingress',
    DATABASE_URL: url.toString(),
    DATABASE_POOL_SIZE: String(POOL_SIZE),
    MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: SECRET,
  });
});

afterAll(async () => {
  proxy?.release();
  await app?.stop();
  await proxy?.stop();
  await ns?.cleanup();
  await db?.drop();
});

/** The gauge's value: what the webhooks waiting to be stored are charged now. */
async function gauge(name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not exported`);
  return (await metric.get()).values[0]?.value ?? 0;
}

const overloadedCount = async () =>
  (await registry.getSingleMetric('webhook_events_received_total')!.get()).values.find(
    (v) => v.labels.provider === 'stripe' && v.labels.outcome === 'overloaded',
  )?.value ?? 0;

/** Polls `predicate` every 20 ms until it holds or the deadline passes; whether it held. */
async function pollUntil(predicate: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return predicate();
}

/** The direct path: a declared length, no encoding. */
async function postDirect(request: Sent['request']): Promise<Answer> {
  const response = await postWebhook(app.baseUrl, 'stripe', request.body, request.headers);
  return { status: response.status, retryAfter: response.headers.get('retry-after'), json: response.json };
}

/** Express's route: a chunked body, which the direct path does not take. */
function postChunked(request: Sent['request']): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${app.baseUrl}/webhooks/stripe`, { method: 'POST', headers: { ...request.headers, 'transfer-encoding': 'chunked' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const retryAfter = response.headers['retry-after'];
        resolve({ status: response.statusCode!, retryAfter: typeof retryAfter === 'string' ? retryAfter : null, json: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    req.end(request.body);
  });
}

const isOverloaded = (answer: Answer | undefined) => answer?.status === 503 && String(answer.json?.message).includes('waiting to be stored');

describe('webhooks waiting to be stored while PostgreSQL is silent', () => {
  it('are bounded: past the bound a webhook is refused 503 overloaded at once (both paths); every 202 is stored once', async () => {
    const limit = StoreQueueBudget.defaultBytes(MAX_BODY_BYTES, POOL_SIZE);
    expect(await gauge(STORE_QUEUE_LIMIT_METRIC)).toBe(limit);
    const charge = new StoreQueueBudget(limit).chargeOf(Buffer.byteLength(signedStripeRequest(SECRET, { id: 'evt_q_000', padding: PADDING }).body));
    const sent: Sent[] = [];
    let highest = 0;
    const queued = async () => {
      const value = await gauge(STORE_QUEUE_BYTES_METRIC);
      highest = Math.max(highest, value);
      return value;
    };
    const overloadedBefore = await overloadedCount();

    /**
     * Sends webhooks one at a time (so no two bodies arrive at once: the body budget is not what refuses them), each
     * once the one before is queued or answered, until one is refused for the queue bound; that one.
     */
    const sendUntilRefused = async (prefix: string, post: (request: Sent['request']) => Promise<Answer>): Promise<Sent> => {
      for (let i = 0; i < Math.ceil(limit / charge) + 8; i++) {
        const before = await queued();
        const externalId = `${prefix}_${i}`;
        const request = signedStripeRequest(SECRET, { id: externalId, padding: PADDING });
        const entry: Sent = { externalId, request, answer: post(request) };
        void entry.answer.then((answer) => (entry.settled = answer));
        sent.push(entry);
        // Queued (the gauge rose) or answered: a refusal comes at once, without PostgreSQL.
        expect(await pollUntil(async () => entry.settled !== undefined || (await queued()) > before, 60_000)).toBe(true);
        if (isOverloaded(entry.settled)) return entry;
      }
      throw new Error(`no webhook was refused for the queue bound after ${sent.length} sent`);
    };

    proxy.hold({ newConnections: true });
    let direct: Sent;
    let chunked: Sent;
    try {
      direct = await sendUntilRefused('evt_q_direct', postDirect);
      chunked = await sendUntilRefused('evt_q_chunked', postChunked);
      // What was queued never passed the bound, though more than it was sent.
      expect(sent.length * charge).toBeGreaterThan(limit);
      expect(highest).toBeGreaterThan(0);
      expect(highest).toBeLessThanOrEqual(limit);
    } finally {
      proxy.release();
    }

    for (const refused of [direct, chunked]) {
      expect(refused.settled).toMatchObject({
        status: 503,
        retryAfter: '5',
        json: { statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: expect.stringContaining('waiting to be stored'), correlationId: expect.any(String) },
      });
    }
    expect((await overloadedCount()) - overloadedBefore).toBe(sent.filter((entry) => isOverloaded(entry.settled)).length);

    // PostgreSQL answers again: every webhook is answered, and what each answer says is what was stored.
    const answers = await Promise.all(sent.map((entry) => entry.answer));
    expect(answers.filter((answer) => answer.status === 202).length).toBeGreaterThan(0);
    for (const [index, answer] of answers.entries()) {
      const rows = (await db.pool.query<{ id: string }>('SELECT id FROM webhook_events WHERE external_id = $1', [sent[index]!.externalId])).rows;
      if (answer.status === 202) expect(rows).toEqual([{ id: answer.json!.id }]);
      // Refused before it was queued: nothing stored.
      else if (isOverloaded(answer)) expect(rows).toEqual([]);
      // Failed while PostgreSQL was silent (503 unavailable): stored at most once (its INSERT may have gone through).
      else expect(answer.status).toBe(503);
    }
    // Every charge was given back, the writes that failed included.
    expect(await pollUntil(async () => (await queued()) === 0, 60_000)).toBe(true);

    // The senders' retries store every event exactly once.
    for (const entry of sent) {
      const retried = await postDirect(entry.request);
      expect([200, 202]).toContain(retried.status);
      const rows = (await db.pool.query<{ id: string }>('SELECT id FROM webhook_events WHERE external_id = $1', [entry.externalId])).rows;
      expect(rows).toEqual([{ id: retried.json!.id }]);
    }
  });
});
