/**
 * The HTTP load generator, run as a child process of run-bench.ts (so the orchestrator's sink, polling and
 * sampling do not share its event loop): autocannon with one dynamically built request per send, a unique
 * Stripe event id, a fresh Stripe signature, and a record of what every request got back.
 *
 * Protocol (IPC): parent sends {@link HttpLoadRun}; child answers {@link HttpLoadResult}.
 */
import autocannon, { type AutocannonResult } from 'autocannon';
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

  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    autocannon(
      {
        url: params.url,
        connections: params.connections,
        pipelining: 1,
        duration: params.durationSec,
        timeout: 10,
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
        });
      },
    );
  });
}

serveLoadRuns<HttpLoadRun>(run);
