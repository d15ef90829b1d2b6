import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import winston from 'winston';
import { createLogger } from '../../services/shared/logging/logger.js';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import { EventWorker } from '../../services/worker/event-worker.js';
import { DeliveryFailedError, EventWaitingError } from '../../services/worker/processing/delivery-failed-error.js';
import { EventHandlerRegistry, type HandledEvent } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { ProcessingStore } from '../../services/worker/processing/processing-store.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { adminRequest } from '../support/admin-client.js';
import { adminDeliveries, readEventRow, waitForEventStatus } from '../support/event-status.js';
import { HttpSink } from '../support/http-sink.js';
import { startRefusedWorker } from '../support/refused-start.js';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import { writeRoutesFile } from '../support/routes-file.js';
import type { InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import type { TestDatabase } from '../support/test-database.js';
import type { TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { WORKER_CONFIRM_CLAIM_AFTER_MS } from '../support/worker-claim-bound.js';

const STRIPE_SECRET = 'whsec_worker_test_stripe';
const GITHUB_SECRET = 'gh-worker-secret';
const ADMIN_TOKEN = 'worker-test-admin-token';
const DESTINATION_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const JOB_ATTEMPTS = 4;
const SLOW_TIMEOUT_MS = 300;

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routed: RoutedService | undefined;
let redis: Redis;
let queue: Queue;

const sinks = {
  signed: new HttpSink(),
  repos: new HttpSink(),
  failing: new HttpSink(() => ({ status: 500 })),
  fanGood: new HttpSink(),
  // Fails the first request it ever gets, then takes everything.
  fanFlaky: new HttpSink((_request, index) => ({ status: index === 0 ? 500 : 200 })),
  // Slower than the destination's timeoutMs on the first request only.
  slow: new HttpSink((_request, index) => ({ status: 200, delayMs: index === 0 ? SLOW_TIMEOUT_MS * 4 : 0 })),
};

const handled: { ledger: HandledEvent[]; flaky: HandledEvent[] } = { ledger: [], flaky: [] };
const handlers = new EventHandlerRegistry()
  .register('ledger', { provider: 'stripe', events: ['ledger.*'] }, async (event) => {
    handled.ledger.push(event);
  })
  .register('flaky', { provider: 'stripe', events: ['handler.flaky'] }, async (event) => {
    handled.flaky.push(event);
    if (event.attempt === 1) throw new Error('handler boom on the first attempt');
  });

let counter = 0;
/** Posts a signed Stripe event of `type` (body given verbatim when passed) and returns the stored event's id. */
async function sendStripe(type: string, rawBody?: string): Promise<{ id: string; body: string }> {
  const body = rawBody ?? JSON.stringify({ id: `evt_worker_${Date.now()}_${counter++}`, object: 'event', type, data: { n: counter } });
  const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  return { id: String(response.json!.id), body };
}

const eventRow = (id: string) => readEventRow(db.pool, id);
const waitForStatus = (id: string, status: string, timeoutMs = 15_000) => waitForEventStatus(db.pool, id, status, timeoutMs);
const deliveries = (id: string) => adminDeliveries(app.baseUrl, ADMIN_TOKEN, id);

/** Stores a PENDING 'thing.happened' event of `provider` directly (as the ingress would) and returns its id. */
async function insertPendingEvent(provider: string, externalId: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ($1, $2, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
    [provider, externalId],
  );
  return rows[0]!.id;
}

/**
 * Built directly, not by the service: a real processor (a store on this file's database, a forwarder of its own, a
 * silent logger) and a BullMQ worker of its own, not started, on `queueName`, a queue the in-process service does not
 * consume; `jobs` adds to that queue. `close()` closes the worker, the queue, the Redis connection and the forwarder.
 */
function ownWorker(options: {
  queueName: string;
  routes: RouteTable;
  forwarder: { defaultTimeoutMs: number; defaultMaxConcurrency: number };
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  workerLogger: winston.Logger;
}) {
  const connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  const forwarder = new HttpForwarder(options.forwarder);
  const processor = new EventProcessor({
    store: new ProcessingStore(db.pool),
    confirmClaimAfterMs: WORKER_CONFIRM_CLAIM_AFTER_MS,
    routes: options.routes,
    handlers: new EventHandlerRegistry(),
    forwarder,
    maxAttempts: JOB_ATTEMPTS,
    logger: winston.createLogger({ silent: true }),
  });
  const worker = new EventWorker({
    connection,
    queueName: options.queueName,
    prefix: ns.prefix,
    concurrency: options.concurrency,
    lockDurationMs: options.lockDurationMs,
    stalledIntervalMs: options.stalledIntervalMs,
    processor,
    logger: options.workerLogger,
  });
  const jobs = new Queue(options.queueName, { connection, prefix: ns.prefix });
  return {
    processor,
    worker,
    jobs,
    async close() {
      await worker.close(true);
      await jobs.close();
      connection.disconnect();
      await forwarder.close();
    },
  };
}

beforeAll(async () => {
  await Promise.all(Object.values(sinks).map((sink) => sink.start()));
  routed = await startRoutedService(
    {
      destinations: {
        signed: { url: `${sinks.signed.url}/hooks/signed`, secret: DESTINATION_SECRET },
        repos: { url: `${sinks.repos.url}/hooks/repos` },
        failing: { url: `${sinks.failing.url}/hooks/failing` },
        fanGood: { url: `${sinks.fanGood.url}/hooks/good` },
        fanFlaky: { url: `${sinks.fanFlaky.url}/hooks/flaky` },
        slow: { url: `${sinks.slow.url}/hooks/slow`, timeoutMs: SLOW_TIMEOUT_MS },
      },
      routes: [
        { provider: 'stripe', events: ['invoice.*'], to: ['signed'] },
        { provider: 'github', events: ['issues.*'], to: ['repos'] },
        { provider: 'stripe', events: ['payout.failed'], to: ['failing'] },
        { provider: 'stripe', events: ['order.created'], to: ['fanGood', 'fanFlaky'] },
        { provider: 'stripe', events: ['report.slow'], to: ['slow'] },
      ],
    },
    {
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      JOB_ATTEMPTS: String(JOB_ATTEMPTS),
      JOB_BACKOFF_MS: '20',
    },
    { handlers },
  );
  ({ db, ns, app } = routed);
  redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue('webhook-events', { connection: redis, prefix: ns.prefix });
});

afterAll(async () => {
  await routed?.stop();
  await queue?.close();
  redis?.disconnect();
  await Promise.all(Object.values(sinks).map((sink) => sink.stop()));
});

describe('delivery', () => {
  it('forwards the original bytes with Standard Webhooks headers that verify, and completes the event', async () => {
    // Odd spacing, key order and non-ASCII: any re-serialisation would change these bytes.
    const body = `{ "type":"invoice.paid",   "id":"evt_sig_${Date.now()}", "note":"caf\u00e9 \u2713 \\u00e9", "n": 1.50 }`;
    const { id } = await sendStripe('invoice.paid', body);
    const completed = await waitForStatus(id, 'COMPLETED');
    expect(completed).toMatchObject({ attempts: 1, last_error: null });

    const received = sinks.signed.requestsFor(id);
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.path).toBe('/hooks/signed');
    expect(request!.body.equals(Buffer.from(body, 'utf8'))).toBe(true);
    expect(request!.headers).toMatchObject({
      'webhook-id': id,
      'x-webhook-provider': 'stripe',
      'x-webhook-event-type': 'invoice.paid',
      'content-type': 'application/json',
    });
    expect(Math.abs(Number(request!.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(30);
    expect(request!.headers['webhook-signature']).toMatch(/^v1,/);
    const verified = new Webhook(DESTINATION_SECRET).verify(request!.body.toString('utf8'), request!.headers as Record<string, string>);
    expect(verified).toMatchObject({ type: 'invoice.paid' });
    // A different secret must not verify: the signature really covers this body and id.
    expect(() => new Webhook(`whsec_${randomBytes(24).toString('base64')}`).verify(request!.body.toString('utf8'), request!.headers as Record<string, string>)).toThrow();

    expect(await deliveries(id)).toEqual([
      expect.objectContaining({ destination: 'signed', attempt: 1, succeeded: true, statusCode: 200, error: null }),
    ]);
  });
});

describe("trace context with tracing off (the chart's default)", () => {
  it("forwards the provider's traceparent, or one under the request's trace id when it sent none", async () => {
    const provider = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const body = JSON.stringify({ id: `evt_trace_off_${Date.now()}`, object: 'event', type: 'invoice.paid', data: {} });
    const sent = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET), traceparent: provider });
    expect(sent.status).toBe(202);
    const withParent = String(sent.json!.id);
    const { id: without } = await sendStripe('invoice.paid');
    for (const id of [withParent, without]) await waitForStatus(id, 'COMPLETED');

    expect(sinks.signed.requestsFor(withParent)[0]!.headers.traceparent).toBe(provider);
    const { rows } = await db.pool.query<{ trace_id: string }>('SELECT trace_id FROM webhook_events WHERE id = $1', [without]);
    expect(sinks.signed.requestsFor(without)[0]!.headers.traceparent).toMatch(new RegExp(`^00-${rows[0]!.trace_id}-[0-9a-f]{16}-01$`));
  });
});

describe('routing', () => {
  it('routes by event-type glob: invoice.* takes other invoice types, not look-alikes', async () => {
    const finalized = await sendStripe('invoice.finalized');
    const lookAlike = await sendStripe('invoices.finalized');
    await waitForStatus(finalized.id, 'COMPLETED');
    await waitForStatus(lookAlike.id, 'COMPLETED');
    expect(sinks.signed.requestsFor(finalized.id)).toHaveLength(1);
    expect(sinks.signed.requestsFor(lookAlike.id)).toHaveLength(0);
    expect(await deliveries(lookAlike.id)).toEqual([]);
  });

  it('filters by provider: a github route does not take a stripe event of the same type', async () => {
    const body = JSON.stringify({ action: 'opened', issue: { number: counter++ } });
    const response = await postWebhook(app.baseUrl, 'github', body, {
      'content-type': 'application/json',
      'x-github-event': 'issues',
      'x-github-delivery': `delivery-worker-${Date.now()}-${counter}`,
      'x-hub-signature-256': `sha256=${(await import('node:crypto')).createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`,
    });
    expect(response.status).toBe(202);
    const githubId = String(response.json!.id);
    const stripeEvent = await sendStripe('issues.opened');

    await waitForStatus(githubId, 'COMPLETED');
    await waitForStatus(stripeEvent.id, 'COMPLETED');
    expect(sinks.repos.requestsFor(githubId)).toHaveLength(1);
    expect(sinks.repos.requestsFor(githubId)[0]!.headers['x-webhook-event-type']).toBe('issues.opened');
    expect(sinks.repos.requestsFor(stripeEvent.id)).toHaveLength(0);
  });

  it('completes an event no route matches, delivering nothing', async () => {
    const totalBefore = Object.values(sinks).reduce((n, sink) => n + sink.requests.length, 0);
    const { id } = await sendStripe('customer.created');
    const row = await waitForStatus(id, 'COMPLETED');
    expect(row.attempts).toBe(1);
    expect(await deliveries(id)).toEqual([]);
    expect(Object.values(sinks).reduce((n, sink) => n + sink.requests.length, 0)).toBe(totalBefore);
  });
});

describe('failures and retries', () => {
  it(`dead-letters after exactly ${JOB_ATTEMPTS} attempts, then an admin replay completes it`, async () => {
    const { id } = await sendStripe('payout.failed');
    const dead = await waitForStatus(id, 'DEAD_LETTER');
    expect(dead.attempts).toBe(JOB_ATTEMPTS);
    expect(dead.last_error).toMatch(/^failing: HTTP 500/);
    // No retry is left behind: the job failed for good, and the sink saw exactly JOB_ATTEMPTS requests.
    await waitFor('the job to be failed', async () => (await queue.getJobState(id)) === 'failed');
    const received = sinks.failing.requestsFor(id);
    expect(received).toHaveLength(JOB_ATTEMPTS);
    expect(sinks.failing.requests.filter((r) => r.headers['webhook-id'] !== id)).toHaveLength(0);
    expect(new Set(received.map((r) => r.headers['webhook-id']))).toEqual(new Set([id]));
    const recorded = await deliveries(id);
    expect(recorded.map((d) => [d.attempt, d.succeeded, d.statusCode])).toEqual(
      Array.from({ length: JOB_ATTEMPTS }, (_, index) => [index + 1, false, 500]),
    );

    sinks.failing.behaviour = () => ({ status: 200 });
    const replay = await adminRequest(app.baseUrl, ADMIN_TOKEN, 'POST', `/admin/events/${id}/replay`);
    expect(replay).toEqual({ status: 202, json: { id, status: 'PENDING' } });
    const completed = await waitForStatus(id, 'COMPLETED');
    expect(completed).toMatchObject({ attempts: 1, last_error: null });
    expect(sinks.failing.requestsFor(id)).toHaveLength(JOB_ATTEMPTS + 1);
    expect((await deliveries(id)).at(-1)).toMatchObject({ destination: 'failing', attempt: 1, succeeded: true, statusCode: 200 });
  });

  it('fan-out: a retry after a partial failure re-sends only to the destination that failed', async () => {
    const { id } = await sendStripe('order.created');
    const row = await waitForStatus(id, 'COMPLETED');
    expect(row.attempts).toBe(2);
    expect(sinks.fanGood.requestsFor(id)).toHaveLength(1);
    expect(sinks.fanFlaky.requestsFor(id)).toHaveLength(2);
    const recorded = (await deliveries(id)).map((d) => [d.destination, d.attempt, d.succeeded]);
    expect(recorded).toHaveLength(3);
    expect(recorded).toEqual(expect.arrayContaining([['fanGood', 1, true], ['fanFlaky', 1, false], ['fanFlaky', 2, true]]));
  });

  it('a destination slower than its timeoutMs counts as a failed attempt', async () => {
    const { id } = await sendStripe('report.slow');
    const row = await waitForStatus(id, 'COMPLETED');
    expect(row.attempts).toBe(2);
    expect(sinks.slow.requestsFor(id)).toHaveLength(2);
    const [first, second] = await deliveries(id);
    expect(first).toMatchObject({ destination: 'slow', attempt: 1, succeeded: false, statusCode: null, error: expect.stringMatching(/timed out/) });
    expect(second).toMatchObject({ destination: 'slow', attempt: 2, succeeded: true, statusCode: 200 });
  });
});

describe('in-process handlers', () => {
  it('runs a registered handler and records it as handler:<name>', async () => {
    const { id, body } = await sendStripe('ledger.entry');
    await waitForStatus(id, 'COMPLETED');
    const calls = handled.ledger.filter((event) => event.id === id);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ id, provider: 'stripe', eventType: 'ledger.entry', attempt: 1, payload: JSON.parse(body) });
    expect(calls[0]!.rawBody.equals(Buffer.from(body))).toBe(true);
    expect(await deliveries(id)).toEqual([expect.objectContaining({ destination: 'handler:ledger', attempt: 1, succeeded: true })]);
  });

  it('retries a throwing handler like a failed delivery', async () => {
    const { id } = await sendStripe('handler.flaky');
    const row = await waitForStatus(id, 'COMPLETED');
    expect(row).toMatchObject({ attempts: 2, last_error: null });
    expect(handled.flaky.filter((event) => event.id === id).map((event) => event.attempt)).toEqual([1, 2]);
    const recorded = await deliveries(id);
    expect(recorded).toEqual([
      expect.objectContaining({ destination: 'handler:flaky', attempt: 1, succeeded: false, error: 'handler boom on the first attempt' }),
      expect.objectContaining({ destination: 'handler:flaky', attempt: 2, succeeded: true }),
    ]);
  });
});

describe('stale jobs', () => {
  it('a duplicate job for a COMPLETED event is skipped: no status change, no delivery', async () => {
    const { id } = await sendStripe('invoice.voided');
    await waitForStatus(id, 'COMPLETED');
    const before = await db.pool.query('SELECT status, attempts, updated_at FROM webhook_events WHERE id = $1', [id]);
    const deliveriesBefore = (await deliveries(id)).length;
    expect(sinks.signed.requestsFor(id)).toHaveLength(1);

    // A job left over from elsewhere (another id, so BullMQ does not dedupe it against the finished one).
    const stale = await queue.add('process-event', { eventId: id }, { jobId: `${id}-stale`, attempts: 3 });
    // The state first, then the job: a job read before it completed carries no return value yet.
    const finished = await waitFor('the stale job to finish', async () =>
      (await queue.getJobState(stale.id!)) === 'completed' ? queue.getJob(stale.id!) : undefined,
    );
    expect(finished.returnvalue).toBe('skipped');

    const after = await db.pool.query('SELECT status, attempts, updated_at FROM webhook_events WHERE id = $1', [id]);
    expect(after.rows[0]).toEqual(before.rows[0]);
    expect(await deliveries(id)).toHaveLength(deliveriesBefore);
    expect(sinks.signed.requestsFor(id)).toHaveLength(1);
  });
});

describe('a destination secret the signer cannot use', () => {
  // Not base64: the Standard Webhooks signer cannot decode it. Such a secret must stop the start, and must never
  // appear in what the service prints.
  const BAD_SECRET = 'whsec_this-is-not-base64';

  it('stops the start: exit code non-zero, one line naming ROUTES_FILE, the destination and the problem', async () => {
    const badRoutes = writeRoutesFile({
      destinations: { fine: { url: 'http://127.0.0.1:9/fine' }, billing: { url: 'http://127.0.0.1:9/billing', secret: BAD_SECRET } },
      routes: [{ provider: 'stripe', to: ['fine', 'billing'] }],
    });
    try {
      const { code, logs } = await startRefusedWorker(db, ns, badRoutes.path);
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      const naming = logs.filter((line) => line.includes(`ROUTES_FILE ${badRoutes.path}: destination "billing": secret: `));
      expect(naming.length).toBeGreaterThanOrEqual(1);
      expect(logs.find((line) => line.startsWith('Failed to start: '))).toMatch(/must be base64/);
      expect(logs.filter((line) => line.includes(BAD_SECRET) || line.includes('this-is-not-base64'))).toEqual([]);
    } finally {
      badRoutes.remove();
    }
  });

  it('if one reaches the forwarder anyway, each attempt is a recorded failure: FAILED, then DEAD_LETTER, never stuck in PROCESSING', async () => {
    // Built directly (the ROUTES_FILE schema would refuse this destination): a real store on this file's database,
    // a real forwarder, and a BullMQ worker of its own on a queue the in-process service does not consume.
    const sink = new HttpSink();
    await sink.start();
    // The processor's logger is silent: the error line for each attempt is expected here.
    const { processor, worker, jobs, close } = ownWorker({
      queueName: 'unsignable-destination',
      routes: new RouteTable({
        destinations: { unsignable: { url: `${sink.url}/unsignable`, secret: BAD_SECRET } },
        routes: [{ provider: 'brokenco', to: ['unsignable'] }],
      }),
      forwarder: { defaultTimeoutMs: 2000, defaultMaxConcurrency: 4 },
      concurrency: 2,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      workerLogger: createLogger('unsignable-test'),
    });
    try {
      const id = await insertPendingEvent('brokenco', `evt_unsignable_${Date.now()}`);

      // The first attempt, run on its own: a failed attempt (retry scheduled), recorded with the reason.
      const first = await processor.process({ eventId: id }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(first).toBeInstanceOf(DeliveryFailedError);
      expect(first).toMatchObject({ final: false });
      expect(await eventRow(id)).toMatchObject({ status: 'FAILED', attempts: 1, last_error: expect.stringMatching(/^unsignable: internal error: /) });

      // The rest through BullMQ, as in production: retried until the last attempt dead-letters the event.
      worker.start();
      await jobs.add('process-event', { eventId: id }, { jobId: id, attempts: JOB_ATTEMPTS, backoff: { type: 'fixed', delay: 20 } });
      const dead = await waitForStatus(id, 'DEAD_LETTER');
      expect(dead.attempts).toBe(JOB_ATTEMPTS);
      expect(dead.last_error).toMatch(/^unsignable: internal error: Invalid Standard Webhooks secret: must be base64/);
      await waitFor('the job to be failed for good', async () => (await jobs.getJobState(id)) === 'failed');

      const attempts = await db.pool.query<{ attempt: number; destination: string; succeeded: boolean; status_code: number | null; error: string }>(
        'SELECT attempt, destination, succeeded, status_code, error FROM delivery_attempts WHERE event_id = $1 ORDER BY attempt',
        [id],
      );
      expect(attempts.rows.map((row) => row.attempt)).toEqual(Array.from({ length: JOB_ATTEMPTS }, (_, index) => index + 1));
      for (const row of attempts.rows) {
        expect(row).toMatchObject({ destination: 'unsignable', succeeded: false, status_code: null, error: expect.stringMatching(/^internal error: /) });
        expect(row.error).not.toContain('this-is-not-base64');
      }
      // Nothing was sent: the request could not be signed.
      expect(sink.requests).toHaveLength(0);
    } finally {
      await close();
      await sink.stop();
    }
  });
});

describe('a destination with maxConcurrency below the worker concurrency', () => {
  it('jobs waiting for a slot keep their BullMQ lock and do not time out: each event delivered once, on its first attempt', async () => {
    // One slot, 6 jobs at once, 500 ms per answer: the last job waits ~2.5 s for the slot, more than twice the
    // 1 s job lock and past the 1.5 s delivery timeout. A lost lock would show as a second attempt (the stalled
    // check hands the job out again), a timeout counted from before the slot as a failed one.
    // Requests open at once: counted down by a timer set just before the sink's own answer timer (same delay, so it
    // fires first); no request is cut off (asserted below), so this is what the destination had open.
    const open = { now: 0, peak: 0 };
    const sink = new HttpSink(() => {
      open.peak = Math.max(open.peak, ++open.now);
      setTimeout(() => open.now--, 500);
      return { status: 200, delayMs: 500 };
    });
    await sink.start();
    const { worker, jobs, close } = ownWorker({
      queueName: 'narrow-destination',
      routes: new RouteTable({
        destinations: { narrow: { url: `${sink.url}/narrow`, timeoutMs: 1500, maxConcurrency: 1 } },
        routes: [{ provider: 'narrowco', to: ['narrow'] }],
      }),
      forwarder: { defaultTimeoutMs: 10_000, defaultMaxConcurrency: 6 },
      concurrency: 6,
      lockDurationMs: 1000,
      stalledIntervalMs: 1000,
      workerLogger: winston.createLogger({ silent: true }),
    });
    try {
      const ids: string[] = [];
      for (let n = 0; n < 6; n++) ids.push(await insertPendingEvent('narrowco', `evt_narrow_${Date.now()}_${n}`));
      await jobs.addBulk(ids.map((id) => ({ name: 'process-event', data: { eventId: id }, opts: { jobId: id, attempts: JOB_ATTEMPTS, backoff: { type: 'fixed', delay: 20 } } })));
      worker.start();
      for (const id of ids) expect(await waitForStatus(id, 'COMPLETED')).toMatchObject({ attempts: 1, last_error: null });

      expect(ids.map((id) => sink.requestsFor(id).length)).toEqual(Array(6).fill(1));
      expect(open.peak).toBe(1);
      const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM delivery_attempts WHERE event_id = ANY($1::uuid[]) AND NOT succeeded', [ids]);
      expect(rows[0]!.n).toBe(0);
    } finally {
      await close();
      await sink.stop();
    }
  });
});

describe('a worker stopping while deliveries wait for a destination slot', () => {
  it('sends none of them: their events go back to the queue at once (no attempt used), and the destinations that took them are not sent again', async () => {
    // Each event goes to `wide` (no limit, answers at once) and `narrow` (one slot, answers after 1 s). Three events
    // at once: all three reach `wide`, one holds `narrow`'s slot, two wait for it when the worker starts stopping.
    const wide = new HttpSink();
    const narrow = new HttpSink(() => ({ status: 200, delayMs: 1000 }));
    await Promise.all([wide.start(), narrow.start()]);
    const routes = new RouteTable({
      destinations: { wide: { url: `${wide.url}/wide` }, narrow: { url: `${narrow.url}/narrow`, maxConcurrency: 1 } },
      routes: [{ provider: 'drainco', to: ['wide', 'narrow'] }],
    });
    const processorWith = (forwarder: HttpForwarder) =>
      new EventProcessor({ store: new ProcessingStore(db.pool), routes, handlers: new EventHandlerRegistry(), forwarder, maxAttempts: JOB_ATTEMPTS, confirmClaimAfterMs: WORKER_CONFIRM_CLAIM_AFTER_MS, logger: winston.createLogger({ silent: true }) });
    const stopping = new HttpForwarder({ defaultTimeoutMs: 10_000, defaultMaxConcurrency: 8 });
    const next = new HttpForwarder({ defaultTimeoutMs: 10_000, defaultMaxConcurrency: 8 });
    try {
      const ids: string[] = [];
      for (let n = 0; n < 3; n++) ids.push(await insertPendingEvent('drainco', `evt_drain_${Date.now()}_${n}`));
      const first = processorWith(stopping);
      const runs = ids.map((id) => first.process({ eventId: id }).then((outcome) => outcome, (error: unknown) => error));
      await waitFor('every event at wide and one in flight at narrow', () => wide.requests.length === 3 && narrow.requests.length === 1);
      stopping.stopStartingDeliveries();
      const outcomes = await Promise.all(runs);

      const inFlight = ids.findIndex((id) => narrow.requestsFor(id).length === 1);
      expect(outcomes[inFlight]).toBe('completed');
      const givenBack = ids.filter((_, n) => n !== inFlight);
      for (const n of [0, 1, 2].filter((n) => n !== inFlight)) {
        expect(outcomes[n]).toBeInstanceOf(EventWaitingError);
        expect(outcomes[n]).toMatchObject({ waitMs: 0, message: 'waiting: narrow: not started, the worker is stopping' });
      }
      expect(narrow.requests).toHaveLength(1);
      for (const id of givenBack) {
        const { rows } = await db.pool.query('SELECT status, attempts, held_for FROM webhook_events WHERE id = $1', [id]);
        expect(rows[0]).toEqual({ status: 'PENDING', attempts: 0, held_for: null });
      }

      // The next worker delivers to narrow only: wide took them before the stop.
      const second = processorWith(next);
      expect(await Promise.all(givenBack.map((id) => second.process({ eventId: id })))).toEqual(['completed', 'completed']);
      for (const id of ids) expect([wide.requestsFor(id).length, narrow.requestsFor(id).length]).toEqual([1, 1]);
      for (const id of givenBack) expect(await eventRow(id)).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    } finally {
      await Promise.all([stopping.close(), next.close()]);
      await Promise.all([wide.stop(), narrow.stop()]);
    }
  });
});
