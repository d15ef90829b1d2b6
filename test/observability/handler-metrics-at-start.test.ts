/**
 * `/metrics` of a freshly started worker that runs in-process handlers (EventHandlerRegistry, passed to
 * startService), before any event: each handler is a destination named `handler:<name>` to the worker, so its
 * delivery series must exist at 0 like those of ROUTES_FILE's destinations, and the provider it is registered for
 * (when not `*`) is one whose events this worker processes. prom-client creates a labelled series at its first inc()
 * or observe(): without these, a handler's first failure on a running pod would appear already at 1, and rate() /
 * increase() (WebhookDeliveryErrorRate, "Delivery attempts by destination and result", "Delivery latency p95 by
 * destination", "Dead-letter growth") would never see that first step.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DELIVERY_RESULTS, PROCESSED_STATUSES, registry } from '../../services/shared/metrics/metrics.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { find, parseExposition } from './support/prometheus-text.js';

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  registry.resetMetrics();
  const handlers = new EventHandlerRegistry()
    // A provider this worker knows of only through its handler (no secret, no ROUTES_FILE).
    .register('ledger', { provider: 'acme', events: ['invoice.*'] }, async () => undefined)
    // Any provider: names no provider of its own.
    .register('audit', { provider: '*' }, async () => undefined);
  app = await startInProcessService({ SERVICE_ROLE: 'worker', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix }, { handlers });
});

afterAll(async () => {
  await app?.stop();
  await ns?.cleanup();
  await db?.drop();
});

describe('/metrics of a worker with in-process handlers, before any event', () => {
  it('has every handler’s delivery series and its provider’s processing series at 0', async () => {
    const response = await fetch(`${app!.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    const metrics = parseExposition(await response.text());

    for (const destination of ['handler:ledger', 'handler:audit']) {
      for (const result of DELIVERY_RESULTS) {
        expect(find(metrics, 'webhook_delivery_attempts_total', { destination, result })).toEqual([
          { name: 'webhook_delivery_attempts_total', labels: { destination, result }, value: 0 },
        ]);
      }
      expect(find(metrics, 'webhook_delivery_duration_seconds_count', { destination })).toEqual([
        { name: 'webhook_delivery_duration_seconds_count', labels: { destination }, value: 0 },
      ]);
    }
    for (const status of PROCESSED_STATUSES) {
      expect(find(metrics, 'webhook_events_processed_total', { provider: 'acme', status })).toEqual([
        { name: 'webhook_events_processed_total', labels: { provider: 'acme', status }, value: 0 },
      ]);
    }
    expect(find(metrics, 'webhook_processing_duration_seconds_count', { provider: 'acme' })).toHaveLength(1);
    // `*` is no provider.
    expect(find(metrics, 'webhook_events_processed_total', { provider: '*' })).toEqual([]);
  });
});
