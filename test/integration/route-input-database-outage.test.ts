/**
 * PostgreSQL goes away after a run claimed its event and before it sent anything: the run's route filter or transform
 * reads the event's payload (RouteInputReader, with the claim's reconnects, ~6 s), or its delivery, which waited for the
 * destination's slot (maxConcurrency), confirms its claim (ProcessingStore.stillHolds), and PostgreSQL stays away
 * longer than those.
 * Nothing was sent, so no attempt was made: the event must wait for the database without using one of its
 * JOB_ATTEMPTS, like a run whose claim or finish PostgreSQL did not take ("database unavailable; the event waits
 * without using an attempt").
 *
 * Observed before the fix: the read's error was taken for the destination's failed attempt ("internal error:
 * Connection terminated unexpectedly"); the run's finish, carried to the job's next run while PostgreSQL was away, then
 * wrote it: on the last attempt the event ended DEAD_LETTER after one real failed delivery of JOB_ATTEMPTS 2, and the
 * destination, answering 200 again, never got it.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { PostgresCuttingProxy } from '../support/postgres-cutting-proxy.js';
import { writeRoutesFile, type RoutesDocument } from '../support/routes-file.js';
import { startInProcessService } from '../support/service-harness.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_route_input_database_outage';
const TOKEN = 'admin-token-route-input-database-outage-0123';
const cleanups: (() => Promise<unknown> | unknown)[] = [];

type Row = { status: string; attempts: number; last_error: string | null };
const rowOf = async (db: TestDatabase, id: string): Promise<Row> =>
  (await db.pool.query<Row>('SELECT status, attempts, last_error FROM webhook_events WHERE id = $1', [id])).rows[0]!;

/**
 * Waits for the proxy's one armed cut, then for the job's `runs`-th run to have ended while PostgreSQL is away, and
 * ends the outage (also when the wait fails, so the cleanup can reach the database).
 */
async function awayThroughRun(proxy: PostgresCuttingProxy, queue: Queue, id: string, runs: number, where: string): Promise<void> {
  await waitFor(`PostgreSQL cut at ${where}`, () => proxy.cuts === 1, { timeoutMs: 30_000, intervalMs: 20 });
  try {
    await waitFor(
      `run ${runs} ended while PostgreSQL is away`,
      async () => (((await queue.getJob(id)) as Job | undefined)?.attemptsStarted ?? 0) >= runs && (await queue.getJobState(id)) !== 'active',
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  } finally {
    proxy.refusing = false;
  }
}

/** The event's row once it is COMPLETED or DEAD_LETTER. */
const endOf = (db: TestDatabase, id: string): Promise<Row> =>
  waitFor(
    'the event ended',
    async () => {
      const row = await rowOf(db, id);
      return row.status === 'COMPLETED' || row.status === 'DEAD_LETTER' ? row : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );

/** An all-in-one service with these routes, its database reached through a proxy that can cut it at a statement. */
async function start(routes: RoutesDocument, env: Record<string, string>) {
  const db = await createTestDatabase();
  const ns = createQueueNamespace();
  const routesFile = writeRoutesFile(routes);
  const url = new URL(db.url);
  const proxy = new PostgresCuttingProxy(url.hostname, Number(url.port || 5432));
  url.port = String(await proxy.start());
  const app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: url.toString(),
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: SECRET,
    ROUTES_FILE: routesFile.path,
    ADMIN_API_TOKEN: TOKEN,
    ...env,
  });
  cleanups.push(() => db.drop(), () => ns.cleanup(), () => routesFile.remove(), () => proxy.stop(), () => app.stop());
  const redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('webhook-events', { connection: redis, prefix: ns.prefix });
  cleanups.push(() => redis.quit(), () => queue.close());
  const send = async (id: string, type: string) => {
    const { body, headers } = signedStripeRequest(SECRET, { id, type });
    const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    return response.json!.id as string;
  };
  return { db, proxy, queue, send, baseUrl: app.baseUrl };
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('PostgreSQL unreachable between the claim and the first send (a route filter reads the payload)', () => {
  it('uses none of the event\'s attempts: the last attempt is made once PostgreSQL is back, and delivers', async () => {
    let proxy!: PostgresCuttingProxy;
    // The first attempt fails at the destination. As it is answered (its run read the payload already), the next
    // read of the payload (the retry's, the last attempt's) is where PostgreSQL goes away, and stays away.
    const sink = await new HttpSink((_request, index) => {
      if (index === 0) {
        proxy.cutOnStatement = 'route-input-v2';
        proxy.refuseAfterCut = true;
        return { status: 500 };
      }
      return { status: 200 };
    }).start();
    cleanups.push(() => sink.stop());
    const started = await start(
      { destinations: { crm: { url: `${sink.url}/in` } }, routes: [{ provider: 'stripe', filter: { 'body.type': 'invoice.paid' }, to: ['crm'] }] },
      { JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '1000' },
    );
    proxy = started.proxy;
    const { db, queue, send } = started;
    const id = await send('evt_route_input_db_outage', 'invoice.paid');

    // The retry's run read the payload, lost PostgreSQL past its reconnects and ended (the job waits, delayed).
    await awayThroughRun(proxy, queue, id, 2, "the retry's payload read");

    const end = await endOf(db, id);
    const answers = sink.requestsFor(id).length;
    expect({ status: end.status, attempts: end.attempts, sent: answers }).toEqual({ status: 'COMPLETED', attempts: 2, sent: 2 });
    // No attempt of the event carries the outage as a delivery's failure.
    const { rows } = await db.pool.query<{ succeeded: boolean; error: string | null }>(
      'SELECT succeeded, error FROM delivery_attempts WHERE event_id = $1 ORDER BY at',
      [id],
    );
    expect(rows.map((row) => row.succeeded)).toEqual([false, true]);
  }, 150_000);
});

describe("PostgreSQL unreachable when a route's transform reads the payload, on the event's only attempt", () => {
  it('does not dead-letter the event: it is sent, transformed, once PostgreSQL is back', async () => {
    const sink = await new HttpSink(() => ({ status: 200 })).start();
    cleanups.push(() => sink.stop());
    const { db, proxy, queue, send } = await start(
      {
        // A circuit breaker: the delivery is admitted (and may be a probe) before its message is built.
        destinations: { crm: { url: `${sink.url}/in`, circuitBreaker: { failureThreshold: 1, cooldownMs: 60_000 } } },
        routes: [{ provider: 'stripe', transform: '{ "kind": type }', to: ['crm'] }],
      },
      { JOB_ATTEMPTS: '1' },
    );
    proxy.cutOnStatement = 'route-input-v2';
    proxy.refuseAfterCut = true;
    const id = await send('evt_transform_db_outage', 'invoice.paid');
    await awayThroughRun(proxy, queue, id, 1, "the transform's payload read");
    const end = await endOf(db, id);
    expect({ status: end.status, attempts: end.attempts, sent: sink.requestsFor(id).map((r) => JSON.parse(r.body.toString())) }).toEqual({
      status: 'COMPLETED',
      attempts: 1,
      sent: [{ kind: 'invoice.paid' }],
    });
  }, 150_000);
});

/** A destination that holds its first request's answer until {@link answerFirst}; answers the others 200 at once. */
async function gatedDestination() {
  const received: string[] = [];
  let held: ServerResponse | undefined;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push(String(req.headers['webhook-id']));
      if (received.length === 1) held = res;
      else res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    held?.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requestsFor: (id: string) => received.filter((r) => r === id).length,
    received,
    answerFirst: () => held!.end('ok'),
  };
}

describe('PostgreSQL unreachable when a delivery that waited for its slot confirms its claim', () => {
  it('uses none of the event\'s attempts: its only attempt is made once PostgreSQL is back, and delivers', async () => {
    const crm = await gatedDestination();
    const { db, proxy, queue, send } = await start(
      { destinations: { crm: { url: `${crm.url}/in`, maxConcurrency: 1 } }, routes: [{ provider: 'stripe', to: ['crm'] }] },
      { JOB_ATTEMPTS: '1', WORKER_CONCURRENCY: '4' },
    );
    // The first event holds the destination's one slot (its answer held back); the second waits for it.
    const first = await send('evt_slot_db_outage_1', 'invoice.paid');
    await waitFor('the first delivery in flight', () => crm.requestsFor(first) === 1, { timeoutMs: 30_000, intervalMs: 20 });
    const second = await send('evt_slot_db_outage_2', 'invoice.paid');
    await waitFor(
      'the second waiting for the slot (claim_waiting)',
      async () => (await db.pool.query<{ claim_waiting: boolean }>('SELECT claim_waiting FROM webhook_events WHERE id = $1', [second])).rows[0]?.claim_waiting === true,
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    // The slot passes on; the second's confirmation of its claim is where PostgreSQL goes away, and stays away.
    proxy.cutOnStatement = 'claims-hold-v2';
    proxy.refuseAfterCut = true;
    crm.answerFirst();
    await awayThroughRun(proxy, queue, second, 1, 'the confirmation');

    const [a, b] = [await endOf(db, first), await endOf(db, second)];
    expect({ status: a.status, sent: crm.requestsFor(first) }).toEqual({ status: 'COMPLETED', sent: 1 });
    expect({ status: b.status, attempts: b.attempts, sent: crm.requestsFor(second) }).toEqual({ status: 'COMPLETED', attempts: 1, sent: 1 });
  }, 150_000);
});

describe("PostgreSQL unreachable when a filtered route's event, held for its paused destination, looks again", () => {
  it("keeps the event's hold on the destination: its waiting-since time and the deferral count go on", async () => {
    const sink = await new HttpSink(() => ({ status: 200 })).start();
    cleanups.push(() => sink.stop());
    const { db, proxy, queue, send, baseUrl } = await start(
      { destinations: { crm: { url: `${sink.url}/in` } }, routes: [{ provider: 'stripe', filter: { 'body.type': 'invoice.paid' }, to: ['crm'] }] },
      { JOB_ATTEMPTS: '3' },
    );
    type Held = { status: string; held_for: string[] | null; held_since_by_destination: Record<string, string> | null; last_error: string | null };
    const heldOf = async (id: string): Promise<Held> =>
      (await db.pool.query<Held>('SELECT status, held_for, held_since_by_destination, last_error FROM webhook_events WHERE id = $1', [id])).rows[0]!;
    const started = async (id: string) => ((await queue.getJob(id)) as Job | undefined)?.attemptsStarted ?? 0;
    const deferrals = async () => {
      const text = await (await fetch(`${baseUrl}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('webhook_destination_deferred_total{') && l.includes('destination="crm"') && l.includes('reason="paused"'));
      return line === undefined ? 0 : Number(line.split(' ').at(-1));
    };

    expect((await adminRequest(baseUrl, TOKEN, 'POST', '/admin/destinations/crm/pause')).json).toMatchObject({ paused: true });
    const id = await send('evt_held_filter_db_outage', 'invoice.paid');
    await waitFor('the event held for the paused destination, its job delayed', async () => {
      const row = await heldOf(id);
      return row.held_for?.includes('crm') && (await queue.getJobState(id)) === 'delayed' ? row : undefined;
    });
    const before = await heldOf(id);
    expect(before.held_since_by_destination?.crm).toBeDefined();
    expect(await deferrals()).toBe(1);

    // The job looks again (as it does every few minutes while the destination stays paused): its filter's read of the
    // payload is where PostgreSQL goes away, and stays away until that run has ended.
    proxy.cutOnStatement = 'route-input-v2';
    proxy.refuseAfterCut = true;
    await ((await queue.getJob(id)) as Job).promote();
    await awayThroughRun(proxy, queue, id, 2, "the filter's payload read");

    // Once PostgreSQL is back, the run's end (written by the job's next run) and the run after it (the destination still
    // paused) leave the event waiting for the destination again, its job delayed for the pause's recheck.
    const after = await waitFor(
      'the event waiting for the paused destination again',
      async () => {
        const row = await heldOf(id);
        return (await started(id)) >= 4 && row.last_error === 'waiting: crm paused' && (await queue.getJobState(id)) === 'delayed' ? row : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect({ status: after.status, heldFor: after.held_for, heldSince: after.held_since_by_destination?.crm }).toEqual({
      status: 'PENDING',
      heldFor: ['crm'],
      heldSince: before.held_since_by_destination!.crm,
    });
    // One delivery put off, once: the outage's run did not end the hold, so the next recheck is not a new deferral.
    expect(await deferrals()).toBe(1);
    expect(sink.requestsFor(id)).toHaveLength(0);
  }, 150_000);
});
