import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HEALTH_CHECK_TIMEOUT_MS } from '../../services/shared/health/health-router.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { one, parseManifests, runHelm, templateArgs } from './helm.js';

/**
 * A scrape of an ingress pod checks Redis (webhook_dependency_up{dependency="redis"}: the ingress's readiness checks
 * only PostgreSQL, so nothing else has checked Redis lately), and a check of a Redis that has gone silent (a network
 * partition, a frozen node: no refusal, no answer) ends only at the health checks' timeout, HEALTH_CHECK_TIMEOUT_MS
 * (2 s). A metrics.serviceMonitor.scrapeTimeout at or below that makes Prometheus give up on every ingress scrape
 * for as long as Redis is silent: the ingress targets are down (up 0) and their series go stale, so
 * WebhookIngressAbsent pages critical ("no ingress pod is running: webhooks are refused") while the ingress runs and
 * accepts webhooks, the dashboards' ingress panels go blank, and the ingress pods' webhook_dependency_up 0 never
 * reaches WebhookRedisUnavailable. The chart took any scrapeTimeout up to the interval; it must refuse one that a
 * scrape during such an outage outlasts.
 */

let db: TestDatabase;
let ns: TestQueueNamespace;
let redisProxy: TcpProxy;
let ingress: ServiceProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  const redis = new URL(ns.redisUrl);
  redisProxy = new TcpProxy(redis.hostname, Number(redis.port || 6379));
  const proxied = new URL(ns.redisUrl);
  proxied.port = String(await redisProxy.start());
  ingress = new ServiceProcess(
    {
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: db.url,
      REDIS_URL: proxied.toString(),
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: 'whsec_scrape_timeout',
      POD_DELETION_COST_ENABLED: 'false',
    },
    await freePort(),
  );
  await ingress.start();
  await waitFor('the ingress ready', async () => (await fetch(`${ingress.baseUrl}/health/ready`)).status === 200, { timeoutMs: 60_000 });
}, 120_000);

afterAll(async () => {
  await ingress?.kill();
  await redisProxy?.stop();
  await ns?.cleanup();
  await db?.drop();
});

function render(scrapeTimeout: string) {
  return runHelm(
    templateArgs([], ['metrics.serviceMonitor.enabled=true', 'metrics.serviceMonitor.interval=30s', `metrics.serviceMonitor.scrapeTimeout=${scrapeTimeout}`]),
  );
}

const durationMs = (text: string) => (text.endsWith('ms') ? Number(text.slice(0, -2)) : Number(text.slice(0, -1)) * 1000);

describe('metrics.serviceMonitor.scrapeTimeout against a scrape while Redis is silent', () => {
  let scrapeMs = 0;

  it('an ingress scrape then lasts the Redis check’s timeout, and still says Redis is down', async () => {
    redisProxy.hold({ newConnections: true });
    const started = Date.now();
    const response = await fetch(`${ingress.baseUrl}/metrics`);
    const text = await response.text();
    scrapeMs = Date.now() - started;
    redisProxy.release();
    expect(response.status).toBe(200);
    expect(text).toMatch(/^webhook_dependency_up\{dependency="redis"\} 0$/m);
    expect(scrapeMs).toBeGreaterThanOrEqual(HEALTH_CHECK_TIMEOUT_MS);
  }, 30_000);

  it('the chart refuses every scrapeTimeout that scrape outlasts, naming the value, and takes the default 10s', () => {
    expect(scrapeMs).toBeGreaterThan(0);
    for (const scrapeTimeout of ['1s', '1500ms', '2s']) {
      expect(durationMs(scrapeTimeout)).toBeLessThanOrEqual(scrapeMs);
      const run = render(scrapeTimeout);
      const errorLines = run.stderr.split('\n').filter((line) => line.startsWith('Error:'));
      expect({ scrapeTimeout, status: run.status === 0 ? 'rendered' : 'refused', errors: errorLines.length }).toEqual({ scrapeTimeout, status: 'refused', errors: 1 });
      expect(errorLines[0]).toContain(`metrics.serviceMonitor.scrapeTimeout=${scrapeTimeout}`);
    }
    for (const scrapeTimeout of ['3s', '10s', '30s']) {
      const run = render(scrapeTimeout);
      expect({ scrapeTimeout, status: run.status, stderr: run.stderr }).toEqual({ scrapeTimeout, status: 0, stderr: '' });
      expect(one(parseManifests(run.stdout), 'ServiceMonitor').spec.endpoints[0].scrapeTimeout).toBe(scrapeTimeout);
    }
  });
});
