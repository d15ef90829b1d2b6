/**
 * A worker of this release running against a schema one migration behind its code: a rollout whose migrations have
 * not run yet (`migrations.enabled=false` with the operator's own step still to come, an image bumped without the
 * chart's Job, a migration Job still waiting for a backup while the new pods start). Its readiness says the schema
 * lacks the migration, but a worker takes its jobs from Redis whether or not it is ready.
 *
 * Found: the finish names `held_since_by_destination`, which that schema lacks: PostgreSQL answers 42703 (undefined
 * column), which was taken for a fault of the statement, not for a database that cannot take it yet (as a missing
 * table, 42P01, already was). The run claimed the event (one attempt), sent it, could not record the send nor release
 * its claim, and ended its job: the event was left PROCESSING with no job and its delivery unrecorded, for the
 * reconciler to take up once stale and send again (another attempt each time) for as long as the schema lagged.
 * Expected: like an unreachable database, the run's unrecorded finish is carried by the job, which waits without
 * using an attempt; once the migration runs, the finish is written and the destination has had the event once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import winston from 'winston';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { runMigrations } from '../../services/shared/database/run-migrations.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { databaseBeforeMigration, type DatabaseBeforeMigration } from '../support/database-before-migration.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const JOB_ATTEMPTS = 3;
const silent = winston.createLogger({ silent: true });

let db: DatabaseBeforeMigration;
let pool: pg.Pool;
let ns: TestQueueNamespace;
let producer: Redis;
let queue: EventQueue;
let routes: TempRoutesFile;
let worker: InProcessService | undefined;
const sink = new HttpSink(() => ({ status: 200 }));

beforeAll(async () => {
  // The schema as the release before HeldSinceByDestination1764501300000 (the newest migration) left it.
  db = await databaseBeforeMigration('HeldSinceByDestination1764501300000', 'worker_older_schema');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  ns = createQueueNamespace();
  await sink.start();
  routes = writeRoutesFile({ destinations: { sink: { url: `${sink.url}/in` } }, routes: [{ provider: 'stripe', to: ['sink'] }] });
  producer = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  queue = new EventQueue({ connection: producer, name: 'webhook-events', prefix: ns.prefix, attempts: JOB_ATTEMPTS, backoffMs: 20, logger: silent });
  worker = await startInProcessService({
    SERVICE_ROLE: 'worker',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    QUEUE_NAME: 'webhook-events',
    ROUTES_FILE: routes.path,
    JOB_ATTEMPTS: String(JOB_ATTEMPTS),
    JOB_BACKOFF_MS: '20',
  });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await queue?.close();
  producer?.disconnect();
  await pool?.end();
  await sink.stop();
  routes?.remove();
  await ns?.cleanup();
  await db?.drop();
});

it('a run whose finish the older schema cannot take waits without an attempt, and is recorded once the migration runs: the destination gets the event once', async () => {
  const id = randomUUID();
  // As the ingress (of either release) stores and queues an event.
  await pool.query(
    `INSERT INTO webhook_events (id, provider, external_id, event_type, payload, raw_body, content_type)
     VALUES ($1, 'stripe', $2, 'charge.succeeded', '{}', convert_to('{}', 'UTF8'), 'application/json')`,
    [id, `evt_${id}`],
  );
  await queue.enqueue({ eventId: id });

  // The event is sent; then either its run waits carrying the finish it could not write, or it is run again.
  const after = await waitFor(
    'the run to wait with its unrecorded finish (or the event to be sent again, or left without a job)',
    async () => {
      if (sink.requestsFor(id).length >= 2) return 'sent again';
      const job = await queue.queue.getJob(id);
      if (job?.data && (job.data as { unrecorded?: { end?: unknown } }).unrecorded?.end !== undefined) return 'waiting with its finish';
      // No job left for an event PROCESSING: only the reconciler takes it up again (and sends it again), once stale.
      const { rows } = await pool.query<{ status: string }>('SELECT status FROM webhook_events WHERE id = $1', [id]);
      if (!job && rows[0]?.status === 'PROCESSING') return 'left PROCESSING without a job, its send unrecorded';
      return undefined;
    },
    { timeoutMs: 60_000 },
  );
  expect({ after, sent: sink.requestsFor(id).length }).toEqual({ after: 'waiting with its finish', sent: 1 });

  // The migration runs: the carried finish is written by the job's next run, which sends nothing again.
  await runMigrations({ url: db.url, logger: createLogger('test-migrations') });
  await waitFor(
    'the event COMPLETED',
    async () => (await pool.query<{ status: string }>('SELECT status FROM webhook_events WHERE id = $1', [id])).rows[0]?.status === 'COMPLETED',
    { timeoutMs: 60_000 },
  );
  const { rows } = await pool.query<{ status: string; attempts: number }>('SELECT status, attempts FROM webhook_events WHERE id = $1', [id]);
  expect({ ...rows[0], sent: sink.requestsFor(id).length }).toEqual({ status: 'COMPLETED', attempts: 1, sent: 1 });
}, 180_000);
