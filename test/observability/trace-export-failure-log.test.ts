/**
 * Tracing on, collector unreachable (a wrong OTEL_EXPORTER_OTLP_ENDPOINT, a collector not deployed yet): the
 * service starts, serves and shuts down promptly (test/process/shutdown.test.ts), but every span it makes is
 * dropped. The chart says of this case that "the exporter would only log errors"; an operator who turned tracing on
 * looks in the logs to learn why no trace shows up. The service's convention for a dependency it cannot reach is a
 * JSON line at warn or error (rate-limited: once, then once a minute). Nothing registers an OpenTelemetry diag
 * logger, so the exporter's failures go nowhere: the JSON log says nothing at all, however long it fails.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { HttpSink } from '../support/http-sink.js';
import { freePort, type ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { startStripeSinkService } from '../support/stripe-sink-service.js';
import { waitFor } from '../support/wait-for.js';

const STRIPE_SECRET = 'whsec_trace_export_failure_test';

let sink: HttpSink;
let service: ServiceProcess;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  // A port nothing listens on: every export is refused at once.
  const closedPort = await freePort();
  ({ sink, service, stop } = await startStripeSinkService({
    env: {
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closedPort}`,
      OTEL_EXPORTER_OTLP_TIMEOUT: '500',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
    options: { preloadTelemetry: true },
  }));
}, 90_000);

afterAll(async () => {
  await stop?.();
});

describe('trace export to an unreachable collector', () => {
  it('is reported in the JSON log (warn or error), not dropped silently', async () => {
    for (let index = 0; index < 5; index++) {
      const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: `evt_export_failure_${index}`, type: 'invoice.paid' });
      expect((await postWebhook(service.baseUrl, 'stripe', body, headers)).status).toBe(202);
    }
    // The service itself works: the events are delivered.
    await waitFor('the events to be delivered', () => (sink.requests.length >= 5 ? true : undefined));

    // Dozens of exports fail over the next seconds (a 50 ms schedule, refused connections, a 500 ms timeout).
    const reported = await waitFor(
      'a log line about the failed trace export',
      () =>
        service
          .jsonLogs()
          .find((line) => (line.level === 'warn' || line.level === 'error') && /trac|span|otlp|export|collector/i.test(`${String(line.message)} ${JSON.stringify(line.error ?? '')}`)),
      { timeoutMs: 8000 },
    ).catch(() => undefined);
    // Every line written, for the failure message: none is about the export.
    const written = [...new Set(service.jsonLogs().map((line) => `${String(line.level)}: ${String(line.message)}`))];
    expect({ reported: reported !== undefined, written }).toEqual({ reported: true, written });
  }, 60_000);
});
