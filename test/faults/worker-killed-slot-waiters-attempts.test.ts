/**
 * A worker killed (SIGKILL, OOM) while its claimed events only wait for a destination's slot (`maxConcurrency`) sent
 * nothing for them, yet the next claim counted an attempt for each: after two kills, events were dead-lettered after
 * one real attempt with JOB_ATTEMPTS=3. A SIGTERM drain gives such attempts back; a kill cannot, so a claim whose only
 * delivery waits marks the event (`claim_waiting`), and the claim that takes it over counts no attempt for it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeEvents } from '../support/provider-simulator.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import type { ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

// A narrow destination (maxConcurrency 1) that always fails: most claimed events wait for its slot, sending nothing.
const crm = new RecordingDestination('crm', () => ({ status: 500, delayMs: 1500 }));
const EVENTS = 6;
let stack: FaultStack;
let routes: TempRoutesFile;
let ingress: ServiceProcess;
let worker: ServiceProcess;

beforeAll(async () => {
  await crm.start();
  routes = writeRoutesFile({ destinations: { crm: { url: `${crm.url}/crm`, maxConcurrency: 1 } }, routes: [{ provider: 'stripe', to: ['crm'] }] });
  stack = await FaultStack.create({ destinations: {}, routes: [], env: { ROUTES_FILE: routes.path, JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '100' } });
  [ingress, worker] = await Promise.all([stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  await stack?.teardown();
  await crm.stop();
  routes?.remove();
});

describe('a worker SIGKILLed twice while its claimed events wait for a destination slot', () => {
  it('dead-letters an event only after JOB_ATTEMPTS attempts that were made (sent), not claims that sent nothing', async () => {
    const provider = stack.provider(() => [ingress.baseUrl]);
    await provider.run(makeEvents('killatt', EVENTS), { ratePerSecond: 200, concurrency: 16 });
    await provider.close();
    const cutOff = new Set<string>(); // deliveries in flight when a kill came: those attempts were made
    let killedClaims: string[] = []; // the claim tokens of the worker killed last: its claims are not this round's
    for (let round = 1; round <= 2; round++) {
      await waitFor(
        `claimed round ${round}`,
        async () =>
          (
            // Claimed by this round's worker, and marked as only waiting (the mark lands just after the claim).
            await stack.db.pool.query(`SELECT count(*)::int n FROM webhook_events WHERE status = 'PROCESSING' AND claim_waiting AND NOT (claim_token = ANY($1::uuid[]))`, [
              killedClaims,
            ])
          ).rows[0].n >= EVENTS - 1 && crm.inFlight.size === 1,
        { timeoutMs: 20_000, intervalMs: 10 },
      );
      for (const id of crm.inFlight) cutOff.add(id);
      killedClaims = (await stack.db.pool.query<{ token: string }>(`SELECT claim_token AS token FROM webhook_events WHERE claim_token IS NOT NULL`)).rows.map((row) => row.token);
      worker.signal('SIGKILL');
      await worker.exited(5000);
      worker = await stack.start('worker');
    }
    await waitFor('every event dead-lettered', async () => (await stack.db.pool.query(`SELECT count(*)::int n FROM webhook_events WHERE status = 'DEAD_LETTER'`)).rows[0].n === EVENTS, {
      timeoutMs: 60_000,
      intervalMs: 300,
    });
    const { rows } = await stack.db.pool.query<{ id: string; attempts: number; rec: number }>(
      `SELECT id, attempts, (SELECT count(*)::int FROM delivery_attempts d WHERE d.event_id = e.id) AS rec FROM webhook_events e`,
    );
    const neverCutOff = rows.filter((row) => !cutOff.has(row.id));
    const figures = neverCutOff.map((row) => ({ attempts: row.attempts, recordedAttempts: row.rec, sent: crm.answers.get(row.id)?.length ?? 0 }));
    expect(neverCutOff.length).toBeGreaterThanOrEqual(EVENTS - 2);
    // JOB_ATTEMPTS (3) attempts each, as README "Statuses" says; a kill while an event only waited for the slot
    // sent nothing and must not use one of its attempts.
    for (const figure of figures) expect(figure).toEqual({ attempts: 3, recordedAttempts: 3, sent: 3 });
  });
});
