import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { readEventRow } from '../support/event-status.js';
import { HttpSink } from '../support/http-sink.js';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

// A destination answering 503 (or 429) with Retry-After says when it may be asked again. The event's own retry waited
// for it (the backoff or the Retry-After, whichever is longer), but the circuit that answer opened, or reopened as the
// probe's answer, held deliveries only for its cooldown: its probe went long before the Retry-After, to a destination
// that had said not before then (and, failing, reopened it for one more cooldown, again and again). Now the circuit
// stays open until the Retry-After has passed when that is later than the cooldown's end, as the event's retry does.

const STRIPE_SECRET = 'whsec_circuit_retry_after';
const RETRY_AFTER_S = 600;
// Short enough that the cooldown alone would end while the test looks.
const BREAKER = { failureThreshold: 1, cooldownMs: 1000 };
// Where the next probe may be after the Retry-After, seen a while after the answer (a loaded machine's margin).
const AT_LEAST_MS = (RETRY_AFTER_S - 60) * 1000;

let counter = 0;
let routed: RoutedService | undefined;
let redis: Redis;
let state: DestinationStateStore;
// Both answer every request 503 with Retry-After: 600.
const overloaded = new HttpSink(() => ({ status: 503, headers: { 'retry-after': String(RETRY_AFTER_S) } }));
const probed = new HttpSink(() => ({ status: 429, headers: { 'retry-after': String(RETRY_AFTER_S) } }));

async function send(type: string): Promise<string> {
  const body = JSON.stringify({ id: `evt_circuit_retry_after_${process.pid}_${counter++}`, object: 'event', type, data: { object: {} } });
  const response = await postWebhook(routed!.app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

/** Redis's clock (ms), what the circuit's times are measured on. */
async function redisNow(): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

beforeAll(async () => {
  await Promise.all([overloaded.start(), probed.start()]);
  routed = await startRoutedService(
    {
      destinations: { overloaded: { url: overloaded.url, circuitBreaker: BREAKER }, probed: { url: probed.url, circuitBreaker: BREAKER } },
      routes: [
        { provider: 'stripe', events: ['overloaded.*'], to: ['overloaded'] },
        { provider: 'stripe', events: ['probed.*'], to: ['probed'] },
      ],
    },
    { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, JOB_ATTEMPTS: '5', JOB_BACKOFF_MS: '20' },
  );
  redis = new Redis(routed.ns.redisUrl, { maxRetriesPerRequest: 1 });
  state = new DestinationStateStore(redis, `${routed.ns.prefix}:webhook-events`);
});

afterAll(async () => {
  redis?.disconnect();
  await routed?.stop();
  await Promise.all([overloaded.stop(), probed.stop()]);
});

describe('a circuit opened by an answer with Retry-After', () => {
  it('stays open until the Retry-After has passed, not only for its cooldown', async () => {
    const id = await send('overloaded.event');
    const circuit = await waitFor('the circuit to open', async () => {
      const seen = (await state.read(['overloaded'])).views[0]!.circuit!;
      return seen.state === 'open' ? seen : undefined;
    });
    // Before: openUntil was the cooldown's end, a second after the answer.
    expect(circuit.openUntil! - (await redisNow())).toBeGreaterThanOrEqual(AT_LEAST_MS);
    expect(await readEventRow(routed!.db.pool, id)).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(overloaded.requestsFor(id)).toHaveLength(1);
  });

  it('a probe answered with Retry-After reopens it until then, and its event waits as long', async () => {
    // Opened earlier without a Retry-After, its cooldown over: the next delivery probes.
    expect(await state.record('probed', 'failure', BREAKER)).toBe('opened');
    await redis.hset(state.circuitKey('probed'), 'openUntil', 0);
    const id = await send('probed.event');
    const row = await waitFor(`event ${id} held by the reopened circuit`, async () => {
      const seen = await readEventRow(routed!.db.pool, id);
      return seen?.last_error?.includes('circuit reopened by a failed probe') ? seen : undefined;
    });
    expect(row).toMatchObject({ status: 'PENDING', attempts: 0 });
    const circuit = (await state.read(['probed'])).views[0]!.circuit!;
    expect(circuit.state).toBe('open');
    // Before: reopened for one cooldown (a second).
    expect(circuit.openUntil! - (await redisNow())).toBeGreaterThanOrEqual(AT_LEAST_MS);
    // Its job comes back once the circuit lets a probe through again, not after one cooldown to find it still open.
    const delayedUntil = await waitFor(`event ${id}'s job delayed`, async () => {
      const score = await redis.zscore(`${routed!.ns.prefix}:webhook-events:delayed`, id);
      return score === null ? undefined : Math.floor(Number(score) / 0x1000);
    });
    expect(delayedUntil - Date.now()).toBeGreaterThanOrEqual(AT_LEAST_MS);
    expect(probed.requestsFor(id)).toHaveLength(1);
  });
});
