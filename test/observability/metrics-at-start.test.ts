/**
 * `/metrics` of a freshly started process, before any traffic: the duration histograms' known series are there at
 * 0, for the role that produces them only. prom-client creates a labelled series at its first observe(), so without
 * them a new pod's first requests and processing attempts would appear already counted and rate() / increase()
 * (the dashboard's duration, latency and status-code panels) would never see that first step.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registry } from '../../services/shared/metrics/metrics.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { find, parseExposition, type Exposition } from './support/prometheus-text.js';

const STRIPE_SECRET = 'whsec_metrics_at_start_secret';
const WEBHOOK_ROUTE = '/webhooks/:provider';
/** What `POST /webhooks/{provider}` answers: 202 accepted, 200 duplicate, and every refusal the route knows. */
const WEBHOOK_STATUS_CODES = ['202', '200', '400', '401', '404', '413', '415', '429', '503'];
const HISTOGRAMS = ['http_request_duration_seconds', 'webhook_processing_duration_seconds', 'webhook_delivery_duration_seconds'];

let db: TestDatabase;
let ns: TestQueueNamespace;
let routes: TempRoutesFile;
let app: InProcessService | undefined;

const scrape = async (service: InProcessService): Promise<Exposition> => {
  const response = await fetch(`${service.baseUrl}/metrics`);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
};

/** A new process of `role`. Both roles run in this test's process: the previous one's series are cleared first. */
const start = async (role: 'ingress' | 'worker'): Promise<InProcessService> => {
  await app?.stop();
  app = undefined;
  registry.resetMetrics();
  app = await startInProcessService({
    SERVICE_ROLE: role,
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ROUTES_FILE: routes.path,
  });
  return app;
};

/** The histogram series with these labels, at 0: one +Inf bucket, sum and count. */
const expectZeroSeries = (metrics: Exposition, name: string, labels: Record<string, string>) => {
  expect(find(metrics, `${name}_count`, labels)).toEqual([{ name: `${name}_count`, labels, value: 0 }]);
  expect(find(metrics, `${name}_sum`, labels)).toEqual([{ name: `${name}_sum`, labels, value: 0 }]);
  expect(find(metrics, `${name}_bucket`, { ...labels, le: '+Inf' })).toEqual([{ name: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: 0 }]);
};

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  // Providers the worker knows: stripe (secret set) and github (routed to, no secret here).
  routes = writeRoutesFile({
    destinations: { ok: { url: 'http://127.0.0.1:9/ok' }, other: { url: 'http://127.0.0.1:9/other' } },
    routes: [
      { provider: 'stripe', events: ['*'], to: ['ok'] },
      { provider: 'github', events: ['*'], to: ['other'] },
    ],
  });
});

afterAll(async () => {
  await app?.stop();
  await ns?.cleanup();
  await db?.drop();
  routes?.remove();
});

describe('/metrics before any traffic', () => {
  it('ingress: the webhook route’s HTTP duration series at 0 for each of its answers; no worker histograms', async () => {
    const metrics = await scrape(await start('ingress'));
    for (const name of HISTOGRAMS) expect(metrics.types.get(name)).toBe('histogram');
    for (const status_code of WEBHOOK_STATUS_CODES) {
      expectZeroSeries(metrics, 'http_request_duration_seconds', { method: 'POST', route: WEBHOOK_ROUTE, status_code });
    }
    // Series of the worker's histograms exist in worker processes only, even with ROUTES_FILE set.
    expect(find(metrics, 'webhook_processing_duration_seconds_count')).toEqual([]);
    expect(find(metrics, 'webhook_delivery_duration_seconds_count')).toEqual([]);
  });

  it('worker: processing duration per known provider and delivery duration per destination at 0; no webhook route series', async () => {
    const metrics = await scrape(await start('worker'));
    for (const provider of ['github', 'stripe']) expectZeroSeries(metrics, 'webhook_processing_duration_seconds', { provider });
    expect(find(metrics, 'webhook_processing_duration_seconds_count').map((sample) => sample.labels.provider).sort()).toEqual(['github', 'stripe']);
    for (const destination of ['ok', 'other']) expectZeroSeries(metrics, 'webhook_delivery_duration_seconds', { destination });
    expect(find(metrics, 'webhook_delivery_duration_seconds_count').map((sample) => sample.labels.destination).sort()).toEqual(['ok', 'other']);
    // A worker serves no webhooks: it has no series of their route.
    expect(find(metrics, 'http_request_duration_seconds_count', { route: WEBHOOK_ROUTE })).toEqual([]);
  });
});
