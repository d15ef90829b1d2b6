/**
 * A worker killed (SIGKILL, OOM) while an event's deliveries to several destinations all only wait for their slots
 * (`maxConcurrency`) sent nothing for it, yet the next claim counted an attempt: only an event with a single delivery
 * was marked as only waiting (`claim_waiting`), so after two kills, events routed to two narrow destinations were
 * dead-lettered after one real attempt with JOB_ATTEMPTS=3. The mark now covers every claim whose deliveries still
 * running all wait, nothing sent; a claim that sent to one destination while another waits still counts its attempt.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeEvents } from '../support/provider-simulator.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import type { ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

// Two narrow destinations (maxConcurrency 1) that always fail: most claimed events wait for both slots, sending nothing.
const crm = new RecordingDestination('crm', () => ({ status: 500, delayMs: 1000 }));
const erp = new RecordingDestination('erp', () => ({ status: 500, delayMs: 1000 }));
// A narrow one beside a wide one answering at once: a claimed event is sent to the ledger while it waits for billing.
const billing = new RecordingDestination('billing', () => ({ status: 500, delayMs: 1000 }));
const ledger = new RecordingDestination('ledger', () => ({ status: 500 }));
const EVENTS = 8;
const KILLS = 2;
let stack: FaultStack;
let routes: TempRoutesFile;
let ingress: ServiceProcess;
let worker: ServiceProcess;

beforeAll(async () => {
  await Promise.all([crm, erp, billing, ledger].map((destination) => destination.start()));
  routes = writeRoutesFile({
    destinations: {
      crm: { url: `${crm.url}/crm`, maxConcurrency: 1 },
      erp: { url: `${erp.url}/erp`, maxConcurrency: 1 },
      billing: { url: `${billing.url}/billing`, maxConcurrency: 1 },
      ledger: { url: `${ledger.url}/ledger` },
    },
    routes: [
      { provider: 'stripe', events: ['invoice.paid'], to: ['crm', 'erp'] },
      { provider: 'stripe', events: ['invoice.sent'], to: ['billing', 'ledger'] },
    ],
  });
  stack = await FaultStack.create({ destinations: {}, routes: [], env: { ROUTES_FILE: routes.path, JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '100' } });
  [ingress, worker] = await Promise.all([stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  await stack?.teardown();
  await Promise.all([crm, erp, billing, ledger].map((destination) => destination.stop()));
  routes?.remove();
});

async function ingest(prefix: string, eventType: string): Promise<string[]> {
  const provider = stack.provider(() => [ingress.baseUrl]);
  await provider.run(
    makeEvents(prefix, EVENTS, () => eventType),
    { ratePerSecond: 200, concurrency: 16 },
  );
  await provider.close();
  const { rows } = await stack.db.pool.query<{ id: string }>(`SELECT id FROM webhook_events WHERE event_type = $1`, [eventType]);
  expect(rows).toHaveLength(EVENTS);
  return rows.map((row) => row.id);
}

/**
 * Kills the worker KILLS times, each once `claimedAndWaiting(unlessClaimedBy)` holds for the worker started last
 * (`unlessClaimedBy`: the claim tokens of the worker killed before it), and starts the next.
 * @returns the events that had a request in flight at one of `narrow` when a kill came: those attempts were made
 */
async function killWhileWaiting(narrow: RecordingDestination[], claimedAndWaiting: (round: number, unlessClaimedBy: string[]) => Promise<boolean>): Promise<Set<string>> {
  const cutOff = new Set<string>();
  let killedClaims: string[] = [];
  for (let round = 1; round <= KILLS; round++) {
    const claims = killedClaims;
    await waitFor(`claimed and waiting, round ${round}`, () => claimedAndWaiting(round, claims), { timeoutMs: 20_000, intervalMs: 10 });
    for (const destination of narrow) for (const id of destination.inFlight) cutOff.add(id);
    killedClaims = (await stack.db.pool.query<{ token: string }>(`SELECT claim_token AS token FROM webhook_events WHERE claim_token IS NOT NULL`)).rows.map((row) => row.token);
    worker.signal('SIGKILL');
    await worker.exited(5000);
    worker = await stack.start('worker');
  }
  return cutOff;
}

async function figuresOnceDeadLettered(ids: string[], cutOff: Set<string>, sentTo: RecordingDestination[]) {
  await waitFor(
    'every event dead-lettered',
    async () => (await stack.db.pool.query(`SELECT count(*)::int n FROM webhook_events WHERE status = 'DEAD_LETTER' AND id = ANY($1::uuid[])`, [ids])).rows[0].n === EVENTS,
    { timeoutMs: 90_000, intervalMs: 300 },
  );
  const { rows } = await stack.db.pool.query<{ id: string; attempts: number; rec: number }>(
    `SELECT id, attempts, (SELECT count(*)::int FROM delivery_attempts d WHERE d.event_id = e.id) AS rec FROM webhook_events e WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  const neverCutOff = rows.filter((row) => !cutOff.has(row.id));
  // Each kill cuts off at most one event per narrow destination.
  expect(neverCutOff.length).toBeGreaterThanOrEqual(EVENTS - KILLS * 2);
  return neverCutOff.map((row) => ({
    attempts: row.attempts,
    recordedAttempts: row.rec,
    ...Object.fromEntries(sentTo.map((destination) => [`sentTo_${destination.name}`, destination.answers.get(row.id)?.length ?? 0])),
  }));
}

describe('a worker SIGKILLed twice while its claimed events wait for the slots of two destinations', () => {
  it('dead-letters an event only after JOB_ATTEMPTS attempts that were made (sent), not claims that sent nothing', async () => {
    const ids = await ingest('killmulti', 'invoice.paid');
    const cutOff = await killWhileWaiting([crm, erp], async (_round, unlessClaimedBy) => {
      // Claimed by this round's worker and marked as only waiting (the mark lands once both deliveries wait), all but
      // the one or two events whose requests are in flight.
      const inFlight = new Set([...crm.inFlight, ...erp.inFlight]);
      const { rows } = await stack.db.pool.query(
        `SELECT count(*)::int n FROM webhook_events WHERE id = ANY($1::uuid[]) AND status = 'PROCESSING' AND claim_waiting AND NOT (claim_token = ANY($2::uuid[]))`,
        [ids, unlessClaimedBy],
      );
      return crm.inFlight.size === 1 && erp.inFlight.size === 1 && rows[0].n >= EVENTS - inFlight.size;
    });
    const figures = await figuresOnceDeadLettered(ids, cutOff, [crm, erp]);
    // JOB_ATTEMPTS (3) attempts each, sent to both destinations, as README "Statuses" says; a kill while both its
    // deliveries only waited for their slots sent nothing and must not use one of its attempts.
    for (const figure of figures) expect(figure).toEqual({ attempts: 3, recordedAttempts: 6, sentTo_crm: 3, sentTo_erp: 3 });
  });
});

describe('a worker SIGKILLed twice while its claimed events, already sent to one destination, wait for the slot of another', () => {
  it('counts each such claim as an attempt: the event was sent', async () => {
    const ids = await ingest('killsent', 'invoice.sent');
    const cutOff = await killWhileWaiting([billing], async (round, unlessClaimedBy) => {
      // Claimed by this round's worker, and sent to the ledger once by each round's claim (the ledger answers at once).
      const { rows } = await stack.db.pool.query(
        `SELECT count(*)::int n FROM webhook_events WHERE id = ANY($1::uuid[]) AND status = 'PROCESSING' AND NOT (claim_token = ANY($2::uuid[]))`,
        [ids, unlessClaimedBy],
      );
      return billing.inFlight.size === 1 && rows[0].n === EVENTS && ids.every((id) => (ledger.answers.get(id)?.length ?? 0) >= round);
    });
    const figures = await figuresOnceDeadLettered(ids, cutOff, [billing, ledger]);
    // Two killed claims, each of which sent to the ledger (attempts 1 and 2), then one that sent to both and finished:
    // only that one recorded its deliveries. A killed claim taken for only waiting would have left the event more
    // real attempts: more sends to both destinations, and more recorded.
    for (const figure of figures) expect(figure).toEqual({ attempts: 3, recordedAttempts: 2, sentTo_billing: 1, sentTo_ledger: 3 });
  });
});
