import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRoutesFile, type TempRoutesFile } from '../../support/routes-file.js';
import { freePort, ServiceProcess } from '../../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../../support/test-redis.js';
import { PrometheusServer } from './prometheus-server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DASHBOARD_FILE = path.join(root, 'charts/event-integration-service/files/dashboards/event-integration-service.json');

/** The job label the chart's ServiceMonitor gives the worker's series. */
export const WORKER_JOB = 'eis-event-integration-service-worker';

/**
 * The dashboard's "Dead letters (range)" stat expression as Grafana sends it for a time range of `rangeS` seconds
 * (`$__range_s`), written `range` (`$__range`: "10s", "10m"), with namespace, release and queue "All".
 */
export function deadLettersStatExpr(rangeS: number, range: string): string {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
  const stat = dashboard.panels.find((panel) => panel.title === 'Dead letters (range)')!.targets![0]!.expr;
  const variables: [string, string][] = [
    ['$__range_s', String(rangeS)],
    ['$__range', range],
    ['$namespace', '.*'],
    ['$release', '.*'],
    ['$queue', '.*'],
  ];
  return variables.reduce((text, [name, value]) => text.split(name).join(value), stat);
}

/**
 * A real all-in-one service process that dead-letters every Stripe event (one attempt, to a destination port nothing
 * listens on), on a database and queue namespace of its own, scraped every second by a real Prometheus as the
 * worker job (label namespace "webhooks") with `ruleFiles` loaded: what a test of a dashboard panel or alert on
 * dead letters evaluates. `service` may be replaced by a new process on the same `env` and `port` (a container
 * restart); `stop()` kills whichever it is then, stops Prometheus and removes the rest.
 */
export interface DeadLetteringService {
  db: TestDatabase;
  ns: TestQueueNamespace;
  routes: TempRoutesFile;
  env: Record<string, string>;
  port: number;
  service: ServiceProcess;
  prometheus: PrometheusServer;
  stop(): Promise<void>;
}

/** Starts both (`prometheusBinary` from prometheusBinaries) and waits until the service answers. */
export async function startDeadLetteringService(settings: { prometheusBinary: string; secret: string; ruleFiles: string[] }): Promise<DeadLetteringService> {
  const ns = createQueueNamespace();
  const db = await createTestDatabase();
  const [port, prometheusPort, closedPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const routes = writeRoutesFile({
    destinations: { down: { url: `http://127.0.0.1:${closedPort}/down` } },
    routes: [{ provider: 'stripe', events: ['*'], to: ['down'] }],
  });
  const env = {
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: settings.secret,
    ROUTES_FILE: routes.path,
    JOB_ATTEMPTS: '1',
    LOG_LEVEL: 'warn',
  };
  const prometheus = new PrometheusServer(settings.prometheusBinary, prometheusPort, {
    ruleFiles: settings.ruleFiles,
    targets: [{ address: `127.0.0.1:${port}`, labels: { job: WORKER_JOB, namespace: 'webhooks' } }],
  });
  const bed: DeadLetteringService = {
    db,
    ns,
    routes,
    env,
    port,
    service: new ServiceProcess(env, port),
    prometheus,
    async stop() {
      await bed.service.kill();
      await prometheus.stop();
      await ns.cleanup();
      await db.drop();
      routes.remove();
    },
  };
  try {
    await Promise.all([bed.service.start(), prometheus.start()]);
  } catch (error) {
    await bed.stop();
    throw error;
  }
  return bed;
}
