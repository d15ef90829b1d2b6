/**
 * An event whose every attempt dies with its worker (SIGKILL, an OOM while it is being sent) must still end: after
 * JOB_ATTEMPTS attempts it is DEAD_LETTER (CONTRACT: "processing attempts in total before DEAD_LETTER"). Each killed
 * claim sent the event (the destination received it), so each counts; yet no claim looks at the count before sending,
 * and BullMQ's stalled-job limit only hands the event to the reconciler, which queues it again: the event is claimed
 * and sent again and again, past JOB_ATTEMPTS, for as long as its worker keeps dying (a crash loop of every worker).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeEvents } from '../support/provider-simulator.js';
import type { ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

const JOB_ATTEMPTS = 3;
// Kills beyond JOB_ATTEMPTS: a correct service has dead-lettered the event before the test runs out of them.
const MAX_KILLS = JOB_ATTEMPTS + 3;
// Slow to answer: every send is still in flight when its worker is killed.
const crm = new RecordingDestination('crm', () => ({ status: 200, delayMs: 60_000 }));
let stack: FaultStack;
let ingress: ServiceProcess;
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { crm: { destination: crm, timeoutMs: 60_000 } },
    routes: [{ provider: 'stripe', to: ['crm'] }],
    env: { JOB_ATTEMPTS: String(JOB_ATTEMPTS), DELIVERY_TIMEOUT_MS: '60000' },
  });
  [ingress, worker] = await Promise.all([stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  await stack?.teardown();
});

describe('a worker SIGKILLed during every attempt of one event (a poison event)', () => {
  it('dead-letters the event after JOB_ATTEMPTS attempts instead of claiming and sending it again without end', async () => {
    const provider = stack.provider(() => [ingress.baseUrl]);
    await provider.run(makeEvents('poison', 1), { ratePerSecond: 10, concurrency: 1 });
    await provider.close();
    const { rows } = await stack.db.pool.query<{ id: string }>('SELECT id FROM webhook_events');
    expect(rows).toHaveLength(1);
    const id = rows[0]!.id;
    const state = async () =>
      (await stack.db.pool.query<{ status: string; attempts: number }>('SELECT status, attempts FROM webhook_events WHERE id = $1', [id])).rows[0]!;

    let kills = 0;
    while (kills < MAX_KILLS) {
      // The next send of the event reaching the destination, or the event ended (dead-lettered without a send).
      const next = await waitFor(
        `send ${kills + 1} or the event's end`,
        async () => ((crm.answers.get(id)?.length ?? 0) > kills ? 'sent' : (await state()).status === 'DEAD_LETTER' ? 'ended' : undefined),
        { timeoutMs: 60_000, intervalMs: 20 },
      );
      if (next === 'ended') break;
      worker.signal('SIGKILL');
      await worker.exited(5000);
      kills++;
      worker = await stack.start('worker');
    }
    const sends = crm.answers.get(id)?.length ?? 0;
    const end = await state();
    console.log(`poison event: kills=${kills} sends=${sends} status=${end.status} attempts=${end.attempts} (JOB_ATTEMPTS ${JOB_ATTEMPTS})`);
    // Every kill interrupted a send, each an attempt made: after the JOB_ATTEMPTS-th the event has had its attempts,
    // and a claim taking it over then must not send it again (nor count more attempts than were made).
    expect(sends).toBe(JOB_ATTEMPTS);
    expect(end.attempts).toBeLessThanOrEqual(JOB_ATTEMPTS);
    await waitFor('the event dead-lettered', async () => (await state()).status === 'DEAD_LETTER', { timeoutMs: 30_000, intervalMs: 100 });
  });
});
