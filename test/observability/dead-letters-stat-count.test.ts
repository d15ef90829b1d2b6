/**
 * The dashboard's "Dead letters (range)" stat is a count of events (decimals 0; its description: "floor() drops
 * increase()'s extrapolation: a count of events"). But floor() is applied only to processes younger than the range:
 * for a process older than the range (the usual case: a worker that has run longer than the dashboard's time range)
 * the stat takes the bare `increase(…[$__range])`, which Prometheus extrapolates to the edges of the range. With
 * every sample of the range in view, N dead letters then read N × range / (last sample − first sample): 5 dead
 * letters in a 10 s range scraped every second read about 5.5, which the stat shows as "6" (the same ratio as a
 * "Last 5 minutes" range scraped every 30 s).
 *
 * A real all-in-one process, older than the range, dead-letters 5 events; a real Prometheus evaluates the stat's own
 * expression at an instant whose range saw the counter go from 0 to 5.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';
import { deadLettersStatExpr, startDeadLetteringService, WORKER_JOB as JOB } from './support/dead-lettering-service.js';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';
import type { PrometheusServer } from './support/prometheus-server.js';

const RANGE_S = 10;
const statExpr = deadLettersStatExpr(RANGE_S, `${RANGE_S}s`);

const SECRET = 'whsec_dead_letters_stat_count';
const DEAD_LETTERS = 5;
const COUNTER = `webhook_events_processed_total{job="${JOB}",status="dead_letter"}`;
const binaries = prometheusBinaries(['prometheus']);

let prometheus: PrometheusServer;
let service: ServiceProcess;
let stop: (() => Promise<void>) | undefined;

/** An instant query at `time` (seconds), so several expressions see the same range. */
async function valueAt(expr: string, time: number): Promise<number | undefined> {
  const response = await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: expr, time: String(time) })}`);
  const body = (await response.json()) as { status: string; error?: string; data: { result: { value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`query failed: ${body.error} (${expr})`);
  const first = body.data.result[0];
  return first === undefined ? undefined : Number(first.value[1]);
}
const value = (expr: string) => valueAt(expr, Date.now() / 1000);

describe('"Dead letters (range)" of a process older than the range', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'real-Prometheus check')) return;

  beforeAll(async () => {
    ({ prometheus, service, stop } = await startDeadLetteringService({ prometheusBinary: binaries.prometheus!, secret: SECRET, ruleFiles: [] }));
    // Older than the range, and scraped all through it at 0.
    await waitFor(
      'the process older than the range, its counter at 0 for the whole range',
      async () =>
        ((await value(`time() - process_start_time_seconds{job="${JOB}"}`)) ?? 0) > RANGE_S + 2 &&
        (await value(`max_over_time(${COUNTER}[${RANGE_S + 2}s])`)) === 0 &&
        ((await value(`count_over_time(${COUNTER}[${RANGE_S}s])`)) ?? 0) >= RANGE_S - 1,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  }, 90_000);

  afterAll(async () => {
    await stop?.();
  }, 30_000);

  it('shows the number of events dead-lettered in the range, not an extrapolation of it', async () => {
    for (let i = 0; i < DEAD_LETTERS; i++) {
      const request = signedStripeRequest(SECRET, { id: `evt_stat_count_${i}`, type: 'charge.failed' });
      expect((await postWebhook(service.baseUrl, 'stripe', request.body, request.headers)).status).toBe(202);
    }
    // An instant whose range holds samples at 0 and at 5: exactly 5 dead letters happened in it.
    const at = await waitFor(
      `the ${DEAD_LETTERS} dead letters inside one range`,
      async () => {
        const time = Date.now() / 1000 - 0.5;
        const [min, max] = await Promise.all([valueAt(`min_over_time(${COUNTER}[${RANGE_S}s])`, time), valueAt(`max_over_time(${COUNTER}[${RANGE_S}s])`, time)]);
        return min === 0 && max === DEAD_LETTERS ? time : false;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    const shown = await valueAt(statExpr, at);
    expect({ shown }).toEqual({ shown: DEAD_LETTERS });
  }, 60_000);
});
