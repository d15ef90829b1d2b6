/**
 * `/metrics` after real traffic: every contract metric, with its labels and type, plus the default process metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DELIVERY_RESULTS, PROCESSED_STATUSES, RECEIVE_OUTCOMES, RECONCILED_STATUSES } from '../../services/shared/metrics/metrics.js';
import { HttpSink } from '../support/http-sink.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { find, parseExposition, total, type Exposition } from './support/prometheus-text.js';

const STRIPE_SECRET = 'whsec_metrics_test_secret';
const QUEUE = 'webhook-events';

let db: TestDatabase;
let ns: TestQueueNamespace;
let okSink: HttpSink;
let badSink: HttpSink;
let app: InProcessService;
let routes: TempRoutesFile;

const scrape = async (): Promise<Exposition> => {
  const response = await fetch(`${app.baseUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return parseExposition(await response.text());
};

beforeAll(async () => {
  [db, okSink, badSink] = await Promise.all([
    createTestDatabase(),
    new HttpSink().start(),
    new HttpSink(() => ({ status: 500 })).start(),
  ]);
  ns = createQueueNamespace();
  routes = writeRoutesFile({
    destinations: { ok: { url: `${okSink.url}/ok` }, bad: { url: `${badSink.url}/bad` } },
    routes: [
      { provider: 'stripe', events: ['invoice.*'], to: ['ok'] },
      { provider: 'stripe', events: ['charge.*'], to: ['bad'] },
    ],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    QUEUE_NAME: QUEUE,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ROUTES_FILE: routes.path,
    JOB_ATTEMPTS: '2',
    JOB_BACKOFF_MS: '10',
  });

  // Traffic: delivered, failed then dead-lettered, duplicate, bad signature, unknown provider.
  const paid = signedStripeRequest(STRIPE_SECRET, { id: 'evt_metrics_paid', type: 'invoice.paid' });
  expect((await postWebhook(app.baseUrl, 'stripe', paid.body, paid.headers)).status).toBe(202);
  expect((await postWebhook(app.baseUrl, 'stripe', paid.body, paid.headers)).status).toBe(200);
  const failing = signedStripeRequest(STRIPE_SECRET, { id: 'evt_metrics_charge', type: 'charge.failed' });
  expect((await postWebhook(app.baseUrl, 'stripe', failing.body, failing.headers)).status).toBe(202);
  expect((await postWebhook(app.baseUrl, 'stripe', paid.body, { 'content-type': 'application/json', 'stripe-signature': 'bogus' })).status).toBe(401);
  expect((await postWebhook(app.baseUrl, 'nope', '{}', { 'content-type': 'application/json' })).status).toBe(404);
  expect((await postWebhook(app.baseUrl, 'stripe', 'a=1', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);

  await waitFor('a completed and a dead-lettered event', async () => {
    const metrics = await scrape();
    return total(metrics, 'webhook_events_processed_total', { status: 'completed' }) >= 1 &&
      total(metrics, 'webhook_events_processed_total', { status: 'dead_letter' }) >= 1;
  });
});

afterAll(async () => {
  await app?.stop();
  await Promise.all([okSink?.stop(), badSink?.stop()]);
  await ns?.cleanup();
  await db?.drop();
  routes?.remove();
});

describe('GET /metrics', () => {
  it('counts received webhooks by provider and outcome', async () => {
    const metrics = await scrape();
    expect(metrics.types.get('webhook_events_received_total')).toBe('counter');
    expect(total(metrics, 'webhook_events_received_total', { provider: 'stripe', outcome: 'accepted' })).toBe(2);
    expect(total(metrics, 'webhook_events_received_total', { provider: 'stripe', outcome: 'duplicate' })).toBe(1);
    expect(total(metrics, 'webhook_events_received_total', { provider: 'stripe', outcome: 'invalid_signature' })).toBe(1);
    // A content type the provider never sends is its own outcome, not a malformed payload.
    expect(total(metrics, 'webhook_events_received_total', { provider: 'stripe', outcome: 'unsupported_media_type' })).toBe(1);
    expect(total(metrics, 'webhook_events_received_total', { provider: 'stripe', outcome: 'invalid_payload' })).toBe(0);
    // Unknown provider names share one label value: a scan cannot create unbounded series.
    expect(total(metrics, 'webhook_events_received_total', { provider: 'unknown', outcome: 'unknown_provider' })).toBe(1);
    for (const sample of find(metrics, 'webhook_events_received_total')) expect(Object.keys(sample.labels).sort()).toEqual(['outcome', 'provider']);
  });

  it('counts processing outcomes by provider and status', async () => {
    const metrics = await scrape();
    expect(metrics.types.get('webhook_events_processed_total')).toBe('counter');
    expect(total(metrics, 'webhook_events_processed_total', { provider: 'stripe', status: 'completed' })).toBe(1);
    expect(total(metrics, 'webhook_events_processed_total', { provider: 'stripe', status: 'failed' })).toBe(1);
    expect(total(metrics, 'webhook_events_processed_total', { provider: 'stripe', status: 'dead_letter' })).toBe(1);
    for (const sample of find(metrics, 'webhook_events_processed_total')) expect(Object.keys(sample.labels).sort()).toEqual(['provider', 'status']);
  });

  it('reports queue depth by state and the oldest waiting age, read at scrape time', async () => {
    // The gauge is cached for a second: wait for the read after BullMQ moved the dead-lettered job to failed.
    const metrics = await waitFor('the dead-lettered job to count as failed', async () => {
      const scraped = await scrape();
      return total(scraped, 'webhook_queue_jobs', { queue: QUEUE, state: 'failed' }) === 1 ? scraped : undefined;
    });
    expect(metrics.types.get('webhook_queue_jobs')).toBe('gauge');
    const states = find(metrics, 'webhook_queue_jobs', { queue: QUEUE }).map((sample) => sample.labels.state).sort();
    expect(states).toEqual(['active', 'delayed', 'failed', 'prioritized', 'waiting']);
    // The dead-lettered job is BullMQ-failed (UnrecoverableError); nothing is waiting any more.
    expect(total(metrics, 'webhook_queue_jobs', { queue: QUEUE, state: 'failed' })).toBe(1);
    expect(total(metrics, 'webhook_queue_jobs', { queue: QUEUE, state: 'waiting' })).toBe(0);
    expect(metrics.types.get('webhook_queue_oldest_waiting_age_seconds')).toBe('gauge');
    expect(find(metrics, 'webhook_queue_oldest_waiting_age_seconds', { queue: QUEUE })).toEqual([
      { name: 'webhook_queue_oldest_waiting_age_seconds', labels: { queue: QUEUE }, value: 0 },
    ]);
  });

  it('has histograms for processing, delivery (by destination) and HTTP requests (by method, route, status code)', async () => {
    const metrics = await scrape();
    for (const name of ['webhook_processing_duration_seconds', 'webhook_delivery_duration_seconds', 'http_request_duration_seconds']) {
      expect(metrics.types.get(name)).toBe('histogram');
      expect(find(metrics, `${name}_bucket`, { le: '+Inf' }).length).toBeGreaterThan(0);
      expect(find(metrics, `${name}_sum`).length).toBeGreaterThan(0);
    }
    // Two attempts of the failing event and one of the delivered one.
    expect(total(metrics, 'webhook_processing_duration_seconds_count')).toBe(3);
    expect(total(metrics, 'webhook_delivery_duration_seconds_count', { destination: 'ok' })).toBe(1);
    expect(total(metrics, 'webhook_delivery_duration_seconds_count', { destination: 'bad' })).toBe(2);
    // Sub-second buckets exist: webhook latencies are milliseconds.
    const les = find(metrics, 'http_request_duration_seconds_bucket')
      .filter((sample) => sample.labels.le !== '+Inf')
      .map((sample) => Number(sample.labels.le));
    expect(Math.min(...les)).toBeLessThanOrEqual(0.005);

    expect(total(metrics, 'http_request_duration_seconds_count', { method: 'POST', route: '/webhooks/:provider', status_code: '202' })).toBe(2);
    expect(total(metrics, 'http_request_duration_seconds_count', { method: 'POST', route: '/webhooks/:provider', status_code: '200' })).toBe(1);
    expect(total(metrics, 'http_request_duration_seconds_count', { method: 'POST', route: '/webhooks/:provider', status_code: '401' })).toBe(1);
    expect(total(metrics, 'http_request_duration_seconds_count', { method: 'POST', route: '/webhooks/:provider', status_code: '404' })).toBe(1);
    // Raw paths never become label values.
    expect(find(metrics, 'http_request_duration_seconds_count').some((sample) => sample.labels.route === '/webhooks/nope')).toBe(false);
    for (const sample of find(metrics, 'http_request_duration_seconds_count')) {
      expect(Object.keys(sample.labels).sort()).toEqual(['method', 'route', 'status_code']);
    }
  });

  it('counts delivery attempts by destination and result', async () => {
    const metrics = await scrape();
    expect(metrics.types.get('webhook_delivery_attempts_total')).toBe('counter');
    expect(total(metrics, 'webhook_delivery_attempts_total', { destination: 'ok', result: 'success' })).toBe(1);
    expect(total(metrics, 'webhook_delivery_attempts_total', { destination: 'bad', result: 'http_error' })).toBe(2);
  });

  it('exports every known label set from the start, at 0 where nothing happened (increase() sees the first step)', async () => {
    const metrics = await scrape();
    // Ingress: its providers × every outcome, and the shared label of unknown providers.
    for (const outcome of RECEIVE_OUTCOMES) expect(find(metrics, 'webhook_events_received_total', { provider: 'stripe', outcome })).toHaveLength(1);
    expect(total(metrics, 'webhook_events_received_total', { provider: 'stripe', outcome: 'unavailable' })).toBe(0);
    // Worker: known providers × every status; ROUTES_FILE destinations × every result; reconciler statuses.
    for (const status of PROCESSED_STATUSES) expect(find(metrics, 'webhook_events_processed_total', { provider: 'stripe', status })).toHaveLength(1);
    for (const destination of ['ok', 'bad']) {
      for (const result of DELIVERY_RESULTS) expect(find(metrics, 'webhook_delivery_attempts_total', { destination, result })).toHaveLength(1);
      for (const gauge of ['webhook_destination_requests_in_flight', 'webhook_destination_requests_waiting']) {
        expect(find(metrics, gauge, { destination })).toEqual([{ name: gauge, labels: { destination }, value: 0 }]);
      }
    }
    expect(total(metrics, 'webhook_delivery_attempts_total', { destination: 'ok', result: 'timeout' })).toBe(0);
    for (const status of RECONCILED_STATUSES) expect(find(metrics, 'webhook_reconciler_requeued_total', { status })).toHaveLength(1);
  });

  it('says which role and queue the process serves, and that it runs a worker', async () => {
    const metrics = await scrape();
    expect(metrics.types.get('webhook_service_info')).toBe('gauge');
    expect(find(metrics, 'webhook_service_info', { role: 'all', queue: QUEUE })).toEqual([
      { name: 'webhook_service_info', labels: { role: 'all', queue: QUEUE }, value: 1 },
    ]);
    // Only processes that run the worker export it (the all-in-one process does): counting it counts workers.
    expect(find(metrics, 'webhook_worker_concurrency', { queue: QUEUE })).toEqual([
      { name: 'webhook_worker_concurrency', labels: { queue: QUEUE }, value: 32 },
    ]);
  });

  it('counts events still to be processed in PostgreSQL (webhook_events_unfinished)', async () => {
    // Everything sent so far is finished.
    await waitFor('no unfinished events', async () => total(await scrape(), 'webhook_events_unfinished', { queue: QUEUE }) === 0);
    // An event FAILED without a job (as after a lost enqueue): the queue gauges cannot see it, this gauge does.
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
       VALUES ('stripe', 'evt_unfinished_probe', 'invoice.paid', '{}', '\\x7b7d', 'application/json', 'FAILED') RETURNING id`,
    );
    try {
      const metrics = await waitFor('one unfinished event', async () => {
        const scraped = await scrape();
        return total(scraped, 'webhook_events_unfinished', { queue: QUEUE }) === 1 ? scraped : undefined;
      });
      expect(metrics.types.get('webhook_events_unfinished')).toBe('gauge');
    } finally {
      await db.pool.query('DELETE FROM webhook_events WHERE id = $1', [rows[0]!.id]);
    }
  });

  it('includes the default process and Node.js metrics', async () => {
    const metrics = await scrape();
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_active_handles_total',
    ]) {
      expect(find(metrics, name).length).toBeGreaterThan(0);
    }
  });
});
