/**
 * The HTTP load generator, run as a child process of run-bench.ts (so the orchestrator's sink, polling and
 * sampling do not share its event loop): autocannon with one dynamically built request per send, a unique
 * Stripe event id, a fresh Stripe signature, and a record of what every request got back.
 *
 * Rate-limited runs (`overallRate`, for `--sweep`): autocannon gives each connection `rate / connections`
 * requests per second, sent back to back as answers come, then the connection waits for its next second. Its
 * seconds start when the connections are created, all together, so every second would open with a burst of one
 * request per connection (64 at once) however low the rate: low-rate latencies would be those of a 64-request
 * burst. Unless `aligned`, each connection's second is shifted by i/connections of a second (setupClient), so the
 * sends spread over the second as independent clients' would.
 *
 * Protocol (IPC): parent sends {@link HttpLoadRun}; child answers {@link HttpLoadResult}.
 */
import autocannon, { type AutocannonClient, type AutocannonResult } from 'autocannon';
import { createStripeBodyFactory, stripeSignatureHeader } from './payload.js';
import { serveLoadRuns } from './load-child-protocol.js';
import { percentiles, Samples, type Percentiles } from './stats.js';

export interface HttpLoadRun {
  type: 'run';
  label: string;
  url: string;
  connections: number;
  durationSec: number;
  payloadBytes: number;
  secret: string;
  /** Unique per run of the benchmark: external ids are `${idPrefix}_${label}_${n}`. */
  idPrefix: string;
  /** Requests per second over all connections (autocannon's `overallRate`); absent = as fast as answers come. */
  overallRate?: number;
  /** With `overallRate`: keep autocannon's aligned per-connection seconds (a burst each second) instead of staggering them. */
  aligned?: boolean;
}

export interface HttpLoadResult {
  type: 'result';
  label: string;
  /** Wall-clock time of the run (ms since epoch), from the first send to autocannon's stop. */
  startedAt: number;
  endedAt: number;
  durationSec: number;
  sent: number;
  responses: number;
  statusCounts: Record<string, number>;
  /** Uuids the service answered 202 for. */
  acceptedIds: string[];
  /** External ids sent without any answer: in flight when autocannon stopped, or lost with a broken connection. */
  unansweredExternalIds: string[];
  /** Milliseconds from building the request to its complete response (every status). */
  latencyMs: Percentiles;
  /** autocannon's own counters, as a cross-check. */
  autocannon: { errors: number; timeouts: number; non2xx: number; resets: number; latencyP99: number; latencyP50: number };
  /** Non-2xx answers, a few, for diagnosis. */
  sampleErrors: string[];
  /** The rate asked of autocannon (requests/s over all connections), when limited. */
  overallRate?: number;
}

/**
 * Shifts a rate-limited autocannon connection's per-second budget by `phaseMs` (autocannon 9's Client: `rate`,
 * `reqsMadeThisSecond`, `paused`, `rateInterval`, `_doRequest`). Called from `setupClient`, i.e. in the Client's
 * constructor before autocannon starts its own 1-second interval, which the phase timer then replaces.
 */
function staggerRateWindow(client: AutocannonClient, phaseMs: number, timers: NodeJS.Timeout[]): void {
  if (!client.rate) return;
  client.reqsMadeThisSecond = Number.POSITIVE_INFINITY; // hold the first send until this connection's phase
  const openWindow = () => {
    client.reqsMadeThisSecond = 0;
    if (client.paused) {
      client.paused = false;
      client._doRequest();
    }
  };
  timers.push(
    setTimeout(() => {
      if (client.destroyed) return;
      clearInterval(client.rateInterval);
      // The first request was built (and its send time taken) when the connection was created; it goes out now.
      const context = client.requestIterator.context;
      if (typeof context.sentAt === 'number') context.sentAt = performance.now();
      client.rateInterval = setInterval(openWindow, 1000); // autocannon clears client.rateInterval when it stops
      openWindow();
    }, phaseMs),
  );
}

function run(params: HttpLoadRun): Promise<HttpLoadResult> {
  const body = createStripeBodyFactory(params.payloadBytes);
  const outstanding = new Set<string>();
  const acceptedIds: string[] = [];
  const statusCounts: Record<string, number> = {};
  const latencies = new Samples();
  const sampleErrors: string[] = [];
  let sent = 0;
  let responses = 0;
  let timestamp = Math.floor(Date.now() / 1000);
  const clock = setInterval(() => (timestamp = Math.floor(Date.now() / 1000)), 200);
  const overallRate = params.overallRate ? Math.max(1, Math.round(params.overallRate)) : undefined;
  // autocannon uses no more connections than requests per second.
  const connections = overallRate ? Math.min(params.connections, overallRate) : params.connections;
  const phaseTimers: NodeJS.Timeout[] = [];
  let clientIndex = 0;

  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    autocannon(
      {
        url: params.url,
        connections: params.connections,
        pipelining: 1,
        duration: params.durationSec,
        timeout: 10,
        ...(overallRate
          ? {
              overallRate,
              // Our own latencies are measured per request; autocannon's correction would fill its histogram with
              // made-up values (it takes 1 / per-connection rate as the expected interval in ms).
              ignoreCoordinatedOmission: true,
              ...(params.aligned ? {} : { setupClient: (client: AutocannonClient) => staggerRateWindow(client, (clientIndex++ * 1000) / connections, phaseTimers) }),
            }
          : {}),
        requests: [
          {
            method: 'POST',
            path: '/webhooks/stripe',
            setupRequest: (request, context) => {
              const index = sent++;
              const externalId = `${params.idPrefix}_${params.label}_${index}`;
              const payload = body(externalId, index);
              outstanding.add(externalId);
              context.externalId = externalId;
              context.sentAt = performance.now();
              request.headers = {
                ...request.headers,
                'content-type': 'application/json',
                'stripe-signature': stripeSignatureHeader(params.secret, payload, timestamp),
              };
              request.body = payload;
              return request;
            },
            onResponse: (status, responseBody, context) => {
              responses++;
              latencies.push(performance.now() - (context.sentAt as number));
              outstanding.delete(context.externalId as string);
              statusCounts[status] = (statusCounts[status] ?? 0) + 1;
              if (status === 202) {
                acceptedIds.push((JSON.parse(responseBody) as { id: string }).id);
              } else if (sampleErrors.length < 5) {
                sampleErrors.push(`${status} ${responseBody.slice(0, 300)}`);
              }
            },
          },
        ],
      },
      (error, result: AutocannonResult) => {
        clearInterval(clock);
        for (const timer of phaseTimers) clearTimeout(timer);
        if (error) return reject(error);
        const endedAt = Date.now();
        resolve({
          type: 'result',
          label: params.label,
          startedAt,
          endedAt,
          durationSec: (endedAt - startedAt) / 1000,
          sent,
          responses,
          statusCounts,
          acceptedIds,
          unansweredExternalIds: [...outstanding],
          latencyMs: percentiles(latencies.values()),
          autocannon: {
            errors: result.errors,
            timeouts: result.timeouts,
            non2xx: result.non2xx,
            resets: result.resets,
            latencyP99: result.latency.p99,
            latencyP50: result.latency.p50,
          },
          sampleErrors,
          ...(overallRate ? { overallRate } : {}),
        });
      },
    );
  });
}

serveLoadRuns<HttpLoadRun>(run);
