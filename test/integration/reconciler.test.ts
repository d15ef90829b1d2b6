import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createLogger } from '../../services/shared/logging/logger.js';
import { eventJobId } from '../../services/shared/queue/event-job.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { Retention } from '../../services/worker/maintenance/retention.js';
import { HttpSink } from '../support/http-sink.js';
import { RedisServer } from '../support/redis-server.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { closePool, createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const STRIPE_SECRET = 'whsec_reconciler_test';
const RECONCILER_LOCK_KEY = 7_100_001;
const RETENTION_LOCK_KEY = 7_100_002;

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/** Reads one un-labelled sample from the Prometheus text (0 when absent). */
async function metric(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('events ingested while Redis is down', () => {
  let redis: RedisServer;
  let app: InProcessService | undefined;
  let routes: TempRoutesFile;
  const sink = new HttpSink();

  beforeAll(async () => {
    redis = new RedisServer(await RedisServer.freePort());
    await redis.start();
    await sink.start();
    routes = writeRoutesFile({ destinations: { sink: { url: `${sink.url}/in` } }, routes: [{ provider: 'stripe', to: ['sink'] }] });
  });

  afterAll(async () => {
    await app?.stop();
    await redis?.destroy();
    await sink.stop();
    routes?.remove();
  });

  it('are answered 202, wait in PENDING, and are delivered exactly once after Redis returns', async () => {
    app = await startInProcessService({
      SERVICE_ROLE: 'all',
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      ROUTES_FILE: routes.path,
      JOB_BACKOFF_MS: '20',
      RECONCILER_INTERVAL_MS: '200',
      RECONCILER_STALE_MS: '300',
    });
    // Works while Redis is up.
    const before = signedStripeRequest(STRIPE_SECRET, { id: `evt_up_${Date.now()}` });
    const beforeResponse = await postWebhook(app.baseUrl, 'stripe', before.body, before.headers);
    expect(beforeResponse.status).toBe(202);
    const beforeId = String(beforeResponse.json!.id);
    await waitFor('the first event to complete', async () => (await status(beforeId)) === 'COMPLETED');

    const failuresBefore = await metric(app.baseUrl, 'webhook_enqueue_failures_total');
    await redis.stop();

    // No wall-clock bound on the answer (2 s before, a speed check a loaded machine broke): the receiver answers before
    // it enqueues (the reconciler catches a failed enqueue), so no answer waits for Redis whatever Redis does.
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: `evt_outage_${Date.now()}_${i}` });
      const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
      expect(response.status).toBe(202);
      ids.push(String(response.json!.id));
    }
    // Every enqueue failed (rather than hanging), so the events wait in PENDING with no job.
    await waitFor('the enqueues to fail', async () => (await metric(app!.baseUrl, 'webhook_enqueue_failures_total')) - failuresBefore >= ids.length);
    const { rows } = await db.pool.query('SELECT status FROM webhook_events WHERE id = ANY($1::uuid[])', [ids]);
    expect(rows.map((row) => row.status)).toEqual(ids.map(() => 'PENDING'));
    expect(sink.requests.filter((request) => ids.includes(String(request.headers['webhook-id'])))).toHaveLength(0);

    // A fresh Redis: whatever the old one held is gone; only PostgreSQL knows about these events.
    await redis.start();
    await waitFor(
      'every event ingested during the outage to complete',
      async () => {
        const result = await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE id = ANY($1::uuid[]) AND status = 'COMPLETED'`, [ids]);
        return result.rows[0].n === ids.length;
      },
      { timeoutMs: 20_000 },
    );
    for (const id of ids) expect(sink.requestsFor(id)).toHaveLength(1);
    expect(sink.requestsFor(beforeId)).toHaveLength(1);
    expect(await metric(app.baseUrl, 'webhook_reconciler_requeued_total')).toBeGreaterThanOrEqual(ids.length);
  });

  async function status(id: string) {
    return (await db.pool.query('SELECT status FROM webhook_events WHERE id = $1', [id])).rows[0]?.status as string | undefined;
  }
});

/** Inserts an event row directly (as if stored earlier), `ageSeconds` since its last update. */
async function insertEvent(status: string, ageSeconds: number, provider = 'stripe'): Promise<string> {
  const externalId = `evt_${status}_${Date.now()}_${Math.random().toString(36).slice(2)}`;
  const { rows } = await db.pool.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, updated_at, received_at)
     VALUES ($1, $2, 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', $3, now() - make_interval(secs => $4), now() - make_interval(secs => $4))
     RETURNING id`,
    [provider, externalId, status, ageSeconds],
  );
  return rows[0].id;
}

/** Waits until some session holds advisory lock `key`. */
const waitForAdvisoryLock = (key: number) =>
  waitFor(`advisory lock ${key} to be held`, async () => {
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted`, [key]);
    return rows[0].n === 1;
  });

/**
 * Holds an ACCESS EXCLUSIVE lock on webhook_events in a transaction of its own, so a pass that took its advisory
 * lock blocks on its first query until `release()`: the race between two instances becomes deterministic.
 */
async function lockEventsTable() {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE');
  return {
    async release() {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

describe('Reconciler', () => {
  let ns: TestQueueNamespace;
  let connection: Redis;
  let queue: EventQueue;
  let poolA: pg.Pool;
  let poolB: pg.Pool;
  const logger = createLogger('reconciler-test');

  beforeAll(async () => {
    ns = createQueueNamespace();
    connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
    queue = new EventQueue({ connection, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger });
    poolA = new pg.Pool({ connectionString: db.url, max: 3 });
    poolB = new pg.Pool({ connectionString: db.url, max: 3 });
  });

  afterAll(async () => {
    await queue?.close();
    connection?.disconnect();
    if (poolA) await closePool(poolA);
    if (poolB) await closePool(poolB);
    await ns?.cleanup();
  });

  it('two instances hold the advisory lock one at a time: the loser returns undefined at once', async () => {
    await db.pool.query(`DELETE FROM webhook_events`);
    const stale = [await insertEvent('PENDING', 60), await insertEvent('FAILED', 60), await insertEvent('PROCESSING', 60)];
    const untouched = [await insertEvent('PENDING', 0), await insertEvent('COMPLETED', 60), await insertEvent('DEAD_LETTER', 60)];
    const a = new Reconciler({ pool: poolA, queue, intervalMs: 60_000, staleMs: 30_000, logger });
    const b = new Reconciler({ pool: poolB, queue, intervalMs: 60_000, staleMs: 30_000, logger });

    const table = await lockEventsTable();
    let first: Promise<number | undefined>;
    try {
      first = a.runOnce();
      await waitForAdvisoryLock(RECONCILER_LOCK_KEY);
      expect(await b.runOnce()).toBeUndefined();
    } finally {
      await table.release();
    }
    expect(await first).toBe(3);
    // Released after the pass: the other instance gets it now, and finds every stranded event has a live job.
    expect(await b.runOnce()).toBe(0);

    for (const id of stale) expect(await queue.queue.getJobState(id)).toBe('waiting');
    for (const id of untouched) expect(await queue.queue.getJobState(id)).toBe('unknown');
    const job = await queue.queue.getJob(stale[0]!);
    expect(job?.data).toEqual({ eventId: stale[0] });
  });

  it('re-enqueues a stranded event whose old job already finished (a finished job is not live)', async () => {
    await db.pool.query(`DELETE FROM webhook_events`);
    const id = await insertEvent('FAILED', 60);
    // The event's job ran and completed (say, its result was lost with a replay); BullMQ keeps it under the same id.
    await queue.queue.add('process-event', { eventId: id }, { jobId: id });
    const workerConnection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker('webhook-events', async () => 'done', { connection: workerConnection, prefix: ns.prefix });
    try {
      await waitFor('the old job to complete', async () => (await queue.queue.getJobState(id)) === 'completed');
    } finally {
      await worker.close();
      workerConnection.disconnect();
    }
    const reconciler = new Reconciler({ pool: poolA, queue, intervalMs: 60_000, staleMs: 1000, logger });
    expect(await reconciler.runOnce()).toBe(1);
    expect(await queue.queue.getJobState(id)).toBe('waiting');
    expect(await reconciler.runOnce()).toBe(0);
  });

  it('enqueues a replayed event whose only live job is of an earlier round (that job will not claim it)', async () => {
    await db.pool.query(`DELETE FROM webhook_events`);
    const id = await insertEvent('PENDING', 60);
    await db.pool.query('UPDATE webhook_events SET replays = 1 WHERE id = $1', [id]);
    // Round 0's job is still live (a replay while it was finishing, then lost its own add to a Redis blip, say).
    await queue.queue.add('process-event', { eventId: id }, { jobId: id, delay: 3_600_000 });
    const reconciler = new Reconciler({ pool: poolA, queue, intervalMs: 60_000, staleMs: 1000, logger });
    expect(await reconciler.runOnce()).toBe(1);
    const job = await queue.queue.getJob(eventJobId(id, 1));
    expect(job?.data).toEqual({ eventId: id, replays: 1 });
    expect(await queue.queue.getJobState(job!.id!)).toBe('waiting');
    expect(await reconciler.runOnce()).toBe(0);
  });

  /** `count` stale events `ageSeconds` old, each a second apart (oldest first), in one statement. */
  const insertStale = async (count: number, ageSeconds: number): Promise<string[]> => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, updated_at, received_at)
       SELECT 'stripe', 'evt_walk_' || $3::text || '_' || n, 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING',
              now() - make_interval(secs => $2 - n), now() - make_interval(secs => $2 - n)
         FROM generate_series(1, $1::int) AS n ORDER BY n
       RETURNING id`,
      [count, ageSeconds, Math.random().toString(36).slice(2)],
    );
    return rows.map((row) => row.id);
  };

  it('walks past stale events whose jobs are live to the stranded ones behind them', async () => {
    await db.pool.query(`DELETE FROM webhook_events`);
    await queue.queue.obliterate({ force: true });
    // A backlog whose jobs wait (or events held for a destination, with delayed jobs): older than the stranded ones.
    const live = await insertStale(300, 7200);
    for (const id of live) await queue.queue.add('process-event', { eventId: id }, { jobId: id, delay: 3_600_000 });
    const stranded = await insertStale(250, 3600);
    const reconciler = new Reconciler({ pool: poolA, queue, intervalMs: 60_000, staleMs: 1000, batchSize: 100, logger });
    expect(await reconciler.runOnce()).toBe(250);
    for (const id of stranded) expect(await queue.queue.getJobState(id)).toBe('waiting');
  });

  it('a pass reads at most its batches; the next goes on from there, and the walk starts over after the newest', async () => {
    await db.pool.query(`DELETE FROM webhook_events`);
    await queue.queue.obliterate({ force: true });
    const stranded = await insertStale(250, 3600);
    const reconciler = new Reconciler({ pool: poolA, queue, intervalMs: 60_000, staleMs: 1000, batchSize: 50, maxBatchesPerPass: 2, logger });
    expect(await reconciler.runOnce()).toBe(100);
    expect(await reconciler.runOnce()).toBe(100);
    expect(await reconciler.runOnce()).toBe(50); // the newest: the walk starts over at the oldest next time
    for (const id of stranded) expect(await queue.queue.getJobState(id)).toBe('waiting');
    // Their jobs are lost (Redis flushed, say): the next pass starts at the oldest again.
    await queue.queue.obliterate({ force: true });
    expect(await reconciler.runOnce()).toBe(100);
    expect(await queue.queue.getJobState(stranded[0]!)).toBe('waiting');
  });

  it('stop() ends a pass after its current batch', async () => {
    await db.pool.query(`DELETE FROM webhook_events`);
    await queue.queue.obliterate({ force: true });
    await insertStale(250, 3600);
    const reconciler = new Reconciler({ pool: poolA, queue, intervalMs: 60_000, staleMs: 1000, batchSize: 50, maxBatchesPerPass: 5, logger });
    const table = await lockEventsTable(); // the pass's first batch waits here
    let pass: Promise<number | undefined>;
    let stopped: Promise<void>;
    try {
      pass = reconciler.runOnce();
      await waitFor('the first batch to wait for the table', async () => {
        const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%UNION ALL%'`);
        return rows[0].n === 1;
      });
      stopped = reconciler.stop();
    } finally {
      await table.release();
    }
    expect(await pass).toBe(50);
    await stopped;
  });
});

describe('Retention', () => {
  const logger = createLogger('retention-test');

  it('deletes COMPLETED events older than the window (with their attempts), keeps the rest', async () => {
    await db.pool.query(`DELETE FROM webhook_events`);
    const day = 24 * 3600;
    const oldCompleted = [await insertEvent('COMPLETED', 10 * day), await insertEvent('COMPLETED', 8 * day), await insertEvent('COMPLETED', 30 * day)];
    await db.pool.query(
      `INSERT INTO delivery_attempts (event_id, destination, attempt, succeeded, status_code, duration_ms) SELECT id, 'sink', 1, true, 200, 5 FROM unnest($1::uuid[]) AS id`,
      [oldCompleted],
    );
    const kept = [
      await insertEvent('COMPLETED', 6 * day),
      await insertEvent('DEAD_LETTER', 60 * day),
      await insertEvent('FAILED', 60 * day),
      await insertEvent('PENDING', 60 * day),
    ];
    const retention = new Retention({ pool: db.pool, completedDays: 7, intervalMs: 60_000, logger, batchSize: 2 });
    expect(await retention.runOnce()).toBe(3);

    const { rows } = await db.pool.query('SELECT id FROM webhook_events');
    expect(new Set(rows.map((row) => row.id))).toEqual(new Set(kept));
    const attempts = await db.pool.query('SELECT count(*)::int AS n FROM delivery_attempts WHERE event_id = ANY($1::uuid[])', [oldCompleted]);
    expect(attempts.rows[0].n).toBe(0);
    expect(await retention.runOnce()).toBe(0);
  });

  it('runs on one instance at a time', async () => {
    await db.pool.query(`DELETE FROM webhook_events`);
    await insertEvent('COMPLETED', 30 * 24 * 3600);
    const poolA = new pg.Pool({ connectionString: db.url, max: 2 });
    const poolB = new pg.Pool({ connectionString: db.url, max: 2 });
    try {
      const a = new Retention({ pool: poolA, completedDays: 7, intervalMs: 60_000, logger });
      const b = new Retention({ pool: poolB, completedDays: 7, intervalMs: 60_000, logger });
      const table = await lockEventsTable();
      let first: Promise<number | undefined>;
      try {
        first = a.runOnce();
        await waitForAdvisoryLock(RETENTION_LOCK_KEY);
        expect(await b.runOnce()).toBeUndefined();
      } finally {
        await table.release();
      }
      expect(await first).toBe(1);
      expect(await b.runOnce()).toBe(0);
    } finally {
      await closePool(poolA);
      await closePool(poolB);
    }
  });
});
