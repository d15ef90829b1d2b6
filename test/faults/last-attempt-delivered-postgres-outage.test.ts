/**
 * A live, healthy worker (chart defaults: WORKER_LOCK_DURATION_MS 30000, DELIVERY_TIMEOUT_MS 10000) makes an event's
 * last attempt (JOB_ATTEMPTS 2: the first answered 503), the destination answers 200 after 3 s, and PostgreSQL is
 * unreachable from the worker for a few seconds longer than the finish's reconnects (~6 s) at that moment (a restart,
 * a failover). The worker does what it is built to do: "database unavailable; the event waits without using an
 * attempt", the job is delayed. Its own next run's claim then finds the event PROCESSING at attempts = JOB_ATTEMPTS,
 * not `claim_waiting`, and (since 9074610, claim-events-v8) takes it for a run cut off during its last attempt: it
 * ends the event DEAD_LETTER, lastError "the worker stopped during the last attempt (killed, out of memory, or stalled
 * past WORKER_LOCK_DURATION_MS); not sent again". No worker stopped or stalled, and the destination took the event.
 *
 * Observed at 4221a33: destination answers [503, 200] (1 delivered), event DEAD_LETTER, attempts 2, lastError as
 * above, worker alive throughout: a false dead letter (an operator's replay then sends it a second time). Before
 * 9074610 (same test at 9074610^) the job's next run sent it again: answers [503, 200, 200], COMPLETED, attempts 3
 * (a duplicate, and one attempt past JOB_ATTEMPTS). Neither is the mission's: this test asks for COMPLETED with the
 * one delivery the destination took. The same holds for any run that leaves its event PROCESSING while its worker
 * lives on (a claim whose commit landed but whose answer was lost past the reconnects also gets a new token).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeEvents } from '../support/provider-simulator.js';
import type { ServiceProcess } from '../support/service-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

const JOB_ATTEMPTS = 2;
// First attempt fails at once; the last one is slow (well under DELIVERY_TIMEOUT_MS) and succeeds.
const crm = new RecordingDestination('crm', (_id, nth) => (nth === 1 ? { status: 503 } : { status: 200, delayMs: 3000 }));
let stack: FaultStack;
let proxy: TcpProxy;
let ingress: ServiceProcess;
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { crm: { destination: crm } },
    routes: [{ provider: 'stripe', to: ['crm'] }],
    // The chart's values (and the schema's defaults) for everything that decides a lock or a timeout.
    env: { JOB_ATTEMPTS: String(JOB_ATTEMPTS), DELIVERY_TIMEOUT_MS: '10000', WORKER_LOCK_DURATION_MS: '30000', WORKER_STALLED_INTERVAL_MS: '30000', JOB_BACKOFF_MS: '1000' },
  });
  const db = new URL(stack.db.url);
  proxy = new TcpProxy(db.hostname, Number(db.port || 5432));
  db.port = String(await proxy.start());
  [ingress, worker] = await Promise.all([stack.start('ingress'), stack.start('worker', { DATABASE_URL: db.toString() })]);
});

afterAll(async () => {
  await stack?.teardown();
  await proxy?.stop();
});

describe('PostgreSQL unreachable from a healthy worker while its last attempt is delivered', () => {
  it('does not dead-letter the event the destination took, as if the worker had stopped during the attempt', async () => {
    const provider = stack.provider(() => [ingress.baseUrl]);
    await provider.run(makeEvents('slowlast', 1), { ratePerSecond: 10, concurrency: 1 });
    await provider.close();
    const { rows } = await stack.db.pool.query<{ id: string }>('SELECT id FROM webhook_events');
    expect(rows).toHaveLength(1);
    const id = rows[0]!.id;
    const state = async () =>
      (await stack.db.pool.query<{ status: string; attempts: number; last_error: string | null }>('SELECT status, attempts, last_error FROM webhook_events WHERE id = $1', [id]))
        .rows[0]!;

    // The last attempt's send is at the destination (answered in 3 s): PostgreSQL goes away for the worker.
    await waitFor('the last attempt in flight', () => crm.inFlight.has(id), { timeoutMs: 60_000, intervalMs: 20 });
    expect(await state()).toMatchObject({ status: 'PROCESSING', attempts: JOB_ATTEMPTS });
    await proxy.stop();
    await waitFor('the 200 answered', () => !crm.inFlight.has(id) && crm.deliveries(id) === 1, { timeoutMs: 15_000, intervalMs: 20 });
    await waitFor(
      'the worker waiting for the database',
      () => worker.jsonLogs().some((line) => String(line.message).startsWith('database unavailable; the event waits')),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await proxy.restart();

    const end = await waitFor(
      'the event ended',
      async () => {
        const now = await state();
        return now.status === 'COMPLETED' || now.status === 'DEAD_LETTER' ? now : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const answers = crm.answers.get(id) ?? [];
    console.log(`last attempt + postgres outage: answers=${JSON.stringify(answers)} status=${end.status} attempts=${end.attempts} lastError=${end.last_error}`);
    expect(worker.exitState()).toBeUndefined(); // the worker never stopped
    expect(end).toMatchObject({ status: 'COMPLETED' });
    expect(crm.deliveries(id)).toBe(1);
  });
});
