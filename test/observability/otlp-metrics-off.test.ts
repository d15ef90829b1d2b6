/**
 * Only traces go over OTLP. The service's metrics are prom-client's (`GET /metrics`); left to its defaults, the
 * OpenTelemetry SDK would also start an OTLP metrics exporter, which speaks OTLP/HTTP (`POST /v1/metrics`) even when
 * the traces go over gRPC, so it pushed to the gRPC trace endpoint every minute and failed there. Real service
 * processes with tracing on point OTLP at a plain HTTP server that records what reaches it. An operator who asks for
 * OTLP metrics (OTEL_METRICS_EXPORTER, or a metrics endpoint or protocol of their own) still gets them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

let db: TestDatabase;
let ns: TestQueueNamespace;
let collector: HttpSink;
let endpoint: string;
/** The paths posted to the collector (OTLP/HTTP exporters only POST); one service process at a time. */
const posts = (): string[] => collector.requests.map((request) => request.path);

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  collector = await new HttpSink().start();
  endpoint = collector.url;
});

afterAll(async () => {
  await collector?.stop();
  await ns?.cleanup();
  await db?.drop();
});

async function withTracedIngress(env: Record<string, string>, run: (service: ServiceProcess) => Promise<void>): Promise<void> {
  const service = new ServiceProcess(
    {
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: 'whsec_otlp_metrics_test_secret',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      // Were a metrics exporter running, it would send every 200 ms.
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_METRIC_EXPORT_TIMEOUT: '100',
      ...env,
    },
    await freePort(),
    { preloadTelemetry: true },
  );
  try {
    await service.start();
    await run(service);
  } finally {
    await service.kill();
  }
}

/** Requests the HTTP instrumentation measures (probes are ignored): unsigned webhooks, answered 401. */
async function sendRequests(service: ServiceProcess): Promise<void> {
  for (let index = 0; index < 5; index++) {
    const response = await fetch(`${service.baseUrl}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(401);
  }
}

describe('OpenTelemetry metrics', () => {
  it('are not pushed over OTLP by default', async () => {
    collector.requests.length = 0;
    await withTracedIngress({}, async (service) => {
      await sendRequests(service);
      await new Promise((resolve) => setTimeout(resolve, 1500));
    });
    expect(posts().filter((post) => post.includes('/v1/metrics'))).toEqual([]);
  }, 60_000);

  it('are pushed to a metrics endpoint configured on its own, as the SDK would by default', async () => {
    collector.requests.length = 0;
    await withTracedIngress({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${endpoint}/own/v1/metrics` }, async (service) => {
      await sendRequests(service);
      await waitFor('an OTLP metrics export to the configured endpoint', () => posts().some((post) => post === '/own/v1/metrics'), { timeoutMs: 15_000 });
    });
  }, 60_000);

  it('are pushed when OTEL_METRICS_EXPORTER asks for them (the check above would see them)', async () => {
    collector.requests.length = 0;
    await withTracedIngress({ OTEL_METRICS_EXPORTER: 'otlp' }, async (service) => {
      await sendRequests(service);
      await waitFor('an OTLP metrics export', () => posts().some((post) => post === '/v1/metrics'), { timeoutMs: 15_000 });
    });
  }, 60_000);
});
