import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { EVENT_JOB_NAME, eventJobId, type EventJobData } from '../../services/shared/queue/event-job.js';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService } from '../support/service-harness.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A resume promotes the delayed jobs of the events waiting for the destination, and once more two seconds later: a
 * job a worker was putting off while the resume landed (not delayed yet at the first promotion) is delayed by then.
 * That second promotion ran from a bare timer: an ingress drained within those two seconds closed the pool and Redis
 * (or exited) before it, and the job waited for its recheck (minutes). Now the drain waits for it.
 *
 * The worker putting a job off is played by the test: one event's job is taken out of the queue before the resume
 * (a worker holds it) and added back delayed after the resume's answer (the worker put it off), then the ingress is
 * drained at once.
 */

const TOKEN = 'adm_shutdown_resume_follow_up_91d3';
const STRIPE_SECRET = 'whsec_shutdown_resume_follow_up';
jest.setTimeout(240_000);

/** One attempt's own database and queue namespace (an inconclusive attempt leaves its events promoted). */
let db: TestDatabase | undefined;
let ns: TestQueueNamespace | undefined;
let connection: Redis | undefined;
let queue: Queue | undefined;
const files: TempRoutesFile[] = [];
const sink = new HttpSink();
let ingress: ServiceProcess | undefined;

async function cleanUp(): Promise<void> {
  await ingress?.kill();
  ingress = undefined;
  await queue?.close();
  connection?.disconnect();
  await ns?.cleanup();
  await db?.drop();
  [db, ns, connection, queue] = [undefined, undefined, undefined, undefined];
}

beforeAll(() => sink.start());

afterAll(async () => {
  await cleanUp();
  await sink.stop();
  for (const file of files) file.remove();
});

function routesPath(): string {
  const file = writeRoutesFile({
    destinations: { billing: { url: `${sink.url}/billing` }, crm: { url: `${sink.url}/crm` } },
    routes: [{ provider: 'stripe', to: ['billing', 'crm'] }],
  });
  files.push(file);
  return file.path;
}

/** Three events PENDING, held for crm (paused), their jobs delayed for the paused recheck (minutes); their ids. */
async function holdEventsForCrm(db: TestDatabase, ns: TestQueueNamespace, queue: Queue): Promise<string[]> {
  const app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ADMIN_API_TOKEN: TOKEN,
    ROUTES_FILE: routesPath(),
    POD_DELETION_COST_ENABLED: 'false',
  });
  try {
    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/crm/pause')).status).toBe(200);
    for (const n of [1, 2, 3]) {
      const body = JSON.stringify({ id: `evt_shutdown_follow_up_${n}`, object: 'event', type: 'invoice.paid', data: { object: {} } });
      const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
      expect(response.status).toBe(202);
    }
    let ids: string[] = [];
    await waitFor('three events waiting for crm, their jobs delayed', async () => {
      const { rows } = await db.pool.query<{ id: string }>(`SELECT id FROM webhook_events WHERE status = 'PENDING' AND held_for = '{crm}' ORDER BY id`);
      ids = rows.map((row) => row.id);
      return ids.length === 3 && (await queue.getDelayedCount()) === 3;
    }, { timeoutMs: 60_000 });
    return ids;
  } finally {
    await app.stop();
  }
}

type Attempt = { conclusive: false } | { conclusive: true; code: number | null; lines: Record<string, unknown>[]; state: string; delayed: number };

async function drainRightAfterResume(): Promise<Attempt> {
  await cleanUp();
  db = await createTestDatabase();
  ns = createQueueNamespace();
  connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  const jobs = (queue = new Queue('webhook-events', { connection, prefix: ns.prefix }));
  const [putOff] = await holdEventsForCrm(db, ns, jobs);
  const jobId = eventJobId(putOff!);
  // A worker holds this event's job: the resume's first promotion does not find it delayed.
  const job = await jobs.getJob(jobId);
  const data = job!.data as EventJobData;
  await job!.remove();

  ingress = new ServiceProcess(
    {
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      ADMIN_API_TOKEN: TOKEN,
      ROUTES_FILE: routesPath(),
      SHUTDOWN_TIMEOUT_MS: '60000',
    },
    await freePort(),
  );
  await ingress.start();
  const sentAt = Date.now();
  const resumed = await adminRequest(ingress.baseUrl, TOKEN, 'POST', '/admin/destinations/crm/resume');
  expect(resumed.status).toBe(200);
  expect(resumed.json.promoted).toBe(2);
  // The worker put it off: delayed for the paused recheck, after the first promotion.
  await jobs.add(EVENT_JOB_NAME, data, { jobId, delay: 300_000 });
  // The second promotion comes 2 s after the first, itself after the request was sent: on a machine so loaded that
  // the job was put back later than that, the second promotion may have come before it. Such a run proves nothing.
  const conclusive = Date.now() - sentAt < 2000;
  ingress.signal('SIGTERM');
  const { code } = await ingress.exited(60_000);
  const lines = ingress.jsonLogs();
  ingress = undefined;
  if (!conclusive) return { conclusive: false };
  return { conclusive, code, lines, state: await (await jobs.getJob(jobId))!.getState(), delayed: await jobs.getDelayedCount() };
}

it('an ingress drained right after a resume promotes once more the jobs put off meanwhile, then closes', async () => {
  let run: Attempt = { conclusive: false };
  for (let attempt = 1; attempt <= 3 && !run.conclusive; attempt++) run = await drainRightAfterResume();
  if (!run.conclusive) throw new Error('every run put the job back too late to tell');
  expect(run.code).toBe(0);
  expect(run.lines.some((line) => line.message === 'shutdown complete')).toBe(true);
  // The second promotion ran before the drain closed the connections: the job put off is waiting, not delayed.
  expect(run.state).toBe('waiting');
  expect(run.delayed).toBe(0);
});
