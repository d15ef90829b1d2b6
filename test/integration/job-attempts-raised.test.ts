/**
 * JOB_ATTEMPTS raised while events are queued (a rolling deploy: ingress pods of the old setting still enqueue, or
 * jobs added before the restart wait in their backoff): a job carries the attempts of the process that added it, and
 * an event is dead-lettered after the JOB_ATTEMPTS in force where it runs, as it is when the setting was lowered.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { createLogger } from '../../services/shared/logging/logger.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const ATTEMPTS_NOW = 4;
const ATTEMPTS_BEFORE = 2;

let db: TestDatabase;
let ns: TestQueueNamespace;
let sink: HttpSink;
let routesFile: TempRoutesFile;
let app: InProcessService;
let redis: Redis;
let olderIngress: EventQueue;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  sink = await new HttpSink(() => ({ status: 500 })).start();
  routesFile = writeRoutesFile({ destinations: { down: { url: `${sink.url}/in` } }, routes: [{ provider: 'stripe', to: ['down'] }] });
  app = await startInProcessService({
    SERVICE_ROLE: 'worker',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    ROUTES_FILE: routesFile.path,
    JOB_ATTEMPTS: String(ATTEMPTS_NOW),
    JOB_BACKOFF_MS: '100',
  });
  // The queue as an ingress still running the earlier setting adds its jobs.
  redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  olderIngress = new EventQueue({ connection: redis, name: 'webhook-events', prefix: ns.prefix, attempts: ATTEMPTS_BEFORE, backoffMs: 100, logger: createLogger('older-ingress') });
});

afterAll(async () => {
  await app?.stop();
  await olderIngress?.close();
  redis?.disconnect();
  await sink?.stop();
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

it(`an event whose job was added under JOB_ATTEMPTS=${ATTEMPTS_BEFORE} is attempted ${ATTEMPTS_NOW} times (the setting now) before DEAD_LETTER`, async () => {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ('stripe', 'evt_attempts_raised', 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
  );
  const id = rows[0]!.id;
  await olderIngress.enqueue({ eventId: id });

  const row = await waitFor(
    'the event dead-lettered',
    async () => {
      const { rows: [current] } = await db.pool.query<{ status: string; attempts: number }>('SELECT status, attempts FROM webhook_events WHERE id = $1', [id]);
      return current?.status === 'DEAD_LETTER' ? current : undefined;
    },
    { timeoutMs: 30_000 },
  );
  expect(row.attempts).toBe(ATTEMPTS_NOW);
  expect(sink.requestsFor(id)).toHaveLength(ATTEMPTS_NOW);
});
