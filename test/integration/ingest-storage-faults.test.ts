/**
 * The ingest path's promise when PostgreSQL fails under it: a 202 only for an event known committed, a 503 (in the
 * contract's error shape, with Retry-After) otherwise, and nothing lost or doubled after recovery: an event that got
 * 503 but was stored all the same (its commit's answer lost) is a duplicate (200) when the sender retries, and the
 * reconciler queues it exactly once.
 *
 * Real PostgreSQL behind proxies: one that goes silent (TcpProxy.hold, new connections too), one that reads the wire
 * protocol and cuts a connection at an exact point of a statement (PostgresCuttingProxy).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import http from 'node:http';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { EventWriter, type NewEvent } from '../../services/ingress/ingest/event-writer.js';
import { createPool } from '../../services/shared/database/create-pool.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { PostgresCuttingProxy } from '../support/postgres-cutting-proxy.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { closePool, createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

// A silent PostgreSQL answers the batch in flight only at the pool's query timeout (20 s).
jest.setTimeout(120_000);

const SECRET = 'whsec_storage_faults_test';
let db: TestDatabase;
let ns: TestQueueNamespace;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
});

afterAll(async () => {
  await ns?.cleanup();
  await db?.drop();
});

const rowsOf = async (externalId: string, database = db) =>
  (await database.pool.query<{ id: string; status: string }>('SELECT id, status FROM webhook_events WHERE external_id = $1', [externalId])).rows;

/** The webhook through Express rather than the direct path (a chunked body), status, headers and JSON. */
function postChunked(baseUrl: string, body: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${baseUrl}/webhooks/stripe`, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, json: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

describe('PostgreSQL silent (every connection, open and new)', () => {
  let proxy: TcpProxy;
  let app: InProcessService;

  beforeAll(async () => {
    const url = new URL(db.url);
    proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
    url.port = String(await proxy.start());
    app = await startInProcessService({
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: url.toString(),
      DATABASE_POOL_SIZE: '4',
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: SECRET,
    });
  });

  afterAll(async () => {
    proxy?.release();
    await app?.stop();
    await proxy?.stop();
  });

  it('answers every request 503 with Retry-After on both paths; after recovery a retry stores each event once', async () => {
    const sent = Array.from({ length: 40 }, (_, i) => signedStripeRequest(SECRET, { id: `evt_silent_${i}` }));
    const chunked = signedStripeRequest(SECRET, { id: 'evt_silent_chunked' });
    proxy.hold({ newConnections: true });
    let answers;
    try {
      answers = await Promise.all([
        ...sent.map(async ({ body, headers }) => {
          const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
          return { status: response.status, retryAfter: response.headers.get('retry-after'), json: response.json };
        }),
        postChunked(app.baseUrl, chunked.body, chunked.headers).then((r) => ({ status: r.status, retryAfter: r.headers['retry-after'] ?? null, json: r.json })),
      ]);
    } finally {
      proxy.release();
    }
    for (const answer of answers) {
      expect(answer).toMatchObject({ status: 503, retryAfter: '5', json: { statusCode: 503, message: expect.any(String), correlationId: expect.any(String) } });
    }

    // What was sent before the silence may have been stored all the same, when the held bytes reached PostgreSQL.
    // Either way the sender's retry stores each event exactly once, new (202) or as the duplicate it is (200).
    for (const [index, { body, headers }] of [...sent, chunked].entries()) {
      const retried = await postWebhook(app.baseUrl, 'stripe', body, headers);
      expect([200, 202]).toContain(retried.status);
      const externalId = index < sent.length ? `evt_silent_${index}` : 'evt_silent_chunked';
      const rows = await rowsOf(externalId);
      expect(rows).toHaveLength(1);
      expect(retried.json).toMatchObject({ id: rows[0]!.id, duplicate: retried.status === 200 });
    }
  });
});

describe('a commit whose answer is lost', () => {
  // A database of its own: the reconciler walks every stranded event, and the silence above may have stored some.
  let ownDb: TestDatabase;
  let proxy: PostgresCuttingProxy;
  let app: InProcessService;
  let connection: Redis;
  let queue: EventQueue;
  let reconcilerPool: pg.Pool;

  beforeAll(async () => {
    ownDb = await createTestDatabase();
    const url = new URL(ownDb.url);
    proxy = new PostgresCuttingProxy(url.hostname, Number(url.port || 5432));
    url.hostname = '127.0.0.1';
    url.port = String(await proxy.start());
    app = await startInProcessService({
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: url.toString(),
      DATABASE_POOL_SIZE: '4',
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: SECRET,
    });
    connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
    queue = new EventQueue({ connection, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger: createLogger('test') });
    reconcilerPool = createPool({ url: ownDb.url, size: 2, applicationName: 'webhooks-storage-faults-reconciler' });
  });

  afterAll(async () => {
    await app?.stop();
    await queue?.close();
    connection?.disconnect();
    if (reconcilerPool) await closePool(reconcilerPool);
    await proxy?.stop();
    await ownDb?.drop();
  });

  it('is answered 503 (not 202); the retry is its duplicate and the reconciler queues it once', async () => {
    const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_commit_answer_lost' });
    proxy.cutAfterAnswer = /^INSERT /;
    const answer = await postWebhook(app.baseUrl, 'stripe', body, headers);
    expect(proxy.cuts).toBe(1);
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('5');
    expect(answer.json).toMatchObject({ statusCode: 503, message: expect.any(String), correlationId: expect.any(String) });

    // Committed all the same: stored once, PENDING, and no job (the ingress enqueues only what it answered 202).
    const rows = await rowsOf('evt_commit_answer_lost', ownDb);
    expect(rows).toEqual([{ id: expect.any(String), status: 'PENDING' }]);
    const id = rows[0]!.id;
    expect(await queue.queue.getJob(id)).toBeUndefined();

    const retried = await postWebhook(app.baseUrl, 'stripe', body, headers);
    expect(retried.status).toBe(200);
    expect(retried.json).toMatchObject({ id, status: 'PENDING', duplicate: true });

    // The reconciler finds it stranded and queues it, once: a second pass sees the live job.
    const reconciler = new Reconciler({ pool: reconcilerPool, queue, intervalMs: 60_000, staleMs: 0, logger: createLogger('test') });
    expect(await reconciler.runOnce()).toBe(1);
    expect(await reconciler.runOnce()).toBe(0);
    expect(await queue.queue.getJobState(id)).toBe('waiting');
    expect((await queue.queue.getJobs(['waiting', 'delayed', 'active'])).filter((job) => job.data.eventId === id)).toHaveLength(1);
  });
});

describe("a batch's duplicate lookup whose connection breaks after its insert committed", () => {
  let proxy: PostgresCuttingProxy;
  let pool: pg.Pool;
  let writer: EventWriter;

  const event = (externalId: string): NewEvent => {
    const body = JSON.stringify({ id: externalId, type: 'invoice.paid' });
    return {
      provider: 'stripe',
      externalId,
      eventType: 'invoice.paid',
      payload: JSON.parse(body) as unknown,
      rawBody: Buffer.from(body),
      contentType: 'application/json',
      headers: {},
      correlationId: null,
      traceId: null,
      traceparent: null,
      replayKey: null,
    };
  };

  beforeAll(async () => {
    const url = new URL(db.url);
    proxy = new PostgresCuttingProxy(url.hostname, Number(url.port || 5432));
    url.hostname = '127.0.0.1';
    url.port = String(await proxy.start());
    pool = createPool({ url: url.toString(), size: 2, applicationName: 'webhooks-storage-faults-writer' });
    pool.on('error', () => undefined);
    writer = new EventWriter({ pool });
  });

  afterAll(async () => {
    await writer?.drain();
    if (pool) await closePool(pool);
    await proxy?.stop();
  });

  it('stores the new events of the batch and answers them as stored; only the duplicate fails (503)', async () => {
    const stored = await writer.insert(event('evt_lookup_lost_dup'));
    expect(stored.duplicate).toBe(false);

    // One batch (submitted in the same turn): a new event and a duplicate, whose lookup runs after the INSERT.
    proxy.cutOnStatement = 'select-existing-webhook-events-v4';
    const [fresh, duplicate] = await Promise.allSettled([writer.insert(event('evt_lookup_lost_new')), writer.insert(event('evt_lookup_lost_dup'))]);
    expect(proxy.cuts).toBe(1);

    const rows = await rowsOf('evt_lookup_lost_new');
    expect(rows).toHaveLength(1);
    // Committed, and known to be by its INSERT's answer: a new event (202, enqueued now), not a 503 whose event then
    // waits for the reconciler and whose sender's retry is a duplicate.
    expect(fresh).toEqual({ status: 'fulfilled', value: { id: rows[0]!.id, status: 'PENDING', duplicate: false } });
    expect(duplicate.status).toBe('rejected');

    // The duplicate's retry finds the stored event.
    expect(await writer.insert(event('evt_lookup_lost_dup'))).toEqual({ id: stored.id, status: 'PENDING', duplicate: true });
  });
});
