import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import { makeEvents } from '../support/provider-simulator.js';
import type { ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack, reportFigures, settle } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

const destination = new RecordingDestination('ledger', () => ({ status: 200, delayMs: 20 }));
let stack: FaultStack;
let ingress: ServiceProcess;
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { ledger: { destination } },
    routes: [{ provider: 'stripe', to: ['ledger'] }],
  });
  [ingress, worker] = await Promise.all([stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  await stack?.teardown();
});

describe("PostgreSQL sessions of the service terminated (pg_terminate_backend) mid-load", () => {
  it('answers 2xx or 503 (never 500, never a hang), the pools recover without a restart, nothing is delivered twice', async () => {
    const startedAt = Date.now();
    const events = makeEvents('pgcut', 240);
    const provider = stack.provider(() => [ingress.baseUrl]);
    const cuts: number[] = [];
    const [outcomes] = await Promise.all([
      provider.run(events, { ratePerSecond: 40, concurrency: 16 }),
      (async () => {
        // A burst of cuts, 100 ms apart, so some land on queries in flight (not only on idle pooled sessions).
        await delay(1500);
        for (let cut = 0; cut < 20; cut++) {
          cuts.push(await stack.terminateServiceSessions());
          await delay(100);
        }
      })(),
    ]);
    await provider.close();

    const figures = await settle({ scenario: 'PostgreSQL sessions killed 20x', stack, events, outcomes, provider, startedAt });
    reportFigures(figures);
    if (figures.lost > 0 || figures.unfinished > 0) console.log(await stack.diagnose());
    expect(stack.unhandled()).toEqual([]);

    // The cuts hit live sessions of both roles.
    console.log(`sessions terminated per cut: ${cuts.join(',')}; answers: ${JSON.stringify(provider.summary())}`);
    expect(cuts.reduce((sum, n) => sum + n, 0)).toBeGreaterThanOrEqual(20);
    const statuses = Object.keys(provider.summary().byStatus).map(Number);
    expect(statuses.every((status) => status === 202 || status === 200 || status === 503)).toBe(true);
    expect(figures).toMatchObject({ answered5xxOther: 0, hangs: 0, connectionErrors: 0, acceptedWithoutRow: 0 });
    expect(figures).toMatchObject({ sent: events.length, accepted: events.length, stored: events.length, delivered: events.length, lost: 0, unfinished: 0 });
    // A lost connection is not a failed delivery: the worker's bookkeeping is sent again on a fresh connection, so
    // with only sessions killed (no process), nothing is delivered twice.
    expect(figures.deliveredTwice).toBe(0);
    // Both processes are still the ones started at the beginning, and ready.
    for (const process of [ingress, worker]) expect((await fetch(`${process.baseUrl}/health/ready`)).status).toBe(200);
    expect(stack.processes).toHaveLength(2);
  });
  it("survives the reconciler's advisory-lock session being killed mid-pass (the worker keeps running)", async () => {
    // The reconciler holds one pooled session (its advisory lock) while a pass runs; find it and kill it, repeatedly.
    const deadline = Date.now() + 15_000;
    let kills = 0;
    while (kills < 3 && Date.now() < deadline) {
      const { rows } = await stack.db.pool.query<{ terminated: boolean }>(
        `SELECT pg_terminate_backend(l.pid) AS terminated
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.objid = 7100001 AND l.granted AND a.datname = $1`,
        [stack.db.name],
      );
      kills += rows.filter((row) => row.terminated).length;
    }
    expect(kills).toBeGreaterThanOrEqual(1);
    // Still the same process, alive and ready again once its pool has replaced the killed session (polled: how long
    // that takes on a loaded machine is not the point), and still processing (and reconciling) events.
    await waitFor('the worker to be ready again', async () => (await fetch(`${worker.baseUrl}/health/ready`)).status === 200, { timeoutMs: 30_000 });
    expect(stack.unhandled()).toEqual([]);
    const events = makeEvents('pgcut_after', 20);
    const provider = stack.provider(() => [ingress.baseUrl]);
    const outcomes = await provider.run(events, { ratePerSecond: 100, concurrency: 8 });
    await provider.close();
    const figures = await settle({ scenario: 'reconciler lock session killed', stack, events, outcomes, provider, startedAt: Date.now() });
    expect(figures).toMatchObject({ accepted: 20, delivered: 20, lost: 0 });
    expect(() => process.kill(worker.pid!, 0)).not.toThrow();
    expect(stack.processes).toHaveLength(2);
  });
});
