/**
 * The monitoring files the chart and docker-compose ship: the Grafana dashboard, the Prometheus alert rules,
 * their runbooks, docker-compose.yml and its Prometheus / Grafana provisioning. Every PromQL expression may only
 * name metrics the service registers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { DependencyGauge } from '../../services/shared/metrics/dependency-gauge.js';
import { DestinationStateGauges } from '../../services/shared/metrics/destination-protection-metrics.js';
import { registry } from '../../services/shared/metrics/metrics.js';
import { QueueDepthGauge } from '../../services/shared/metrics/queue-depth-gauge.js';
import { UnfinishedEventsGauge } from '../../services/shared/metrics/unfinished-events-gauge.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';
import { familyOf, metricNames } from './support/promql-metric-names.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

const DASHBOARD_FILE = 'charts/event-integration-service/files/dashboards/event-integration-service.json';
const RULES_FILE = 'charts/event-integration-service/files/alerts/rules.yaml';

/** Every metric family the service exports (the queue gauges are registered when a QueueDepthGauge is built). */
function exportedMetrics(): Set<string> {
  // Never collected here: the source is not read unless the registry is scraped.
  new QueueDepthGauge('names-only', {
    counts: async () => ({ waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 0 }),
    queue: { getWaiting: async () => [] },
  });
  new UnfinishedEventsGauge('names-only', { query: async () => ({ rows: [{ n: 0 }] }) });
  new DependencyGauge({});
  new DestinationStateGauges({ names: [], withBreaker: new Set(), read: async () => ({ now: 0, views: [] }), held: async () => [] });
  return new Set(registry.getMetricsAsArray().map((metric) => metric.name));
}

/** Metrics not exported by the service that the files may use (none today; `up` would go here). */
const EXTERNAL_METRICS = new Set<string>();

function unknownMetrics(expr: string, exported: Set<string>): string[] {
  return metricNames(expr).filter((name) => !familyOf(name, exported) && !EXTERNAL_METRICS.has(name));
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { type: string; uid: string } }[];
  gridPos: { x: number; y: number; w: number; h: number };
}

describe('metric-name extraction (the checker itself)', () => {
  it('finds selectors and skips functions, grouping labels, matchers, durations and variables', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{namespace=~"$namespace", route!~"/health.*"}[$__rate_interval])))',
      ),
    ).toEqual(['http_request_duration_seconds_bucket']);
    expect(metricNames('sum(a_total) / on (ns) group_left (x) b offset 5m > 0.1 unless count(c{job=~".*worker.*"}) or vector(0)').sort()).toEqual(
      ['a_total', 'b', 'c'],
    );
    expect(metricNames('up == 1')).toEqual(['up']);
  });
});

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(read(DASHBOARD_FILE)) as {
    uid: string;
    title: string;
    templating: { list: { name: string; type: string; query: unknown; datasource?: { uid: string } }[] };
    panels: Panel[];
  };
  const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
  const targets = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));

  it('parses, keeps its stable uid, and picks Prometheus through a ${datasource} variable', () => {
    expect(dashboard.uid).toBe('event-integration-service');
    const datasource = dashboard.templating.list.find((variable) => variable.name === 'datasource');
    expect(datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) expect(variable.datasource?.uid).toBe('${datasource}');
    expect(targets.length).toBeGreaterThan(15);
    for (const { panel, target } of targets) {
      expect({ panel: panel.title, datasource: target.datasource }).toEqual({ panel: panel.title, datasource: { type: 'prometheus', uid: '${datasource}' } });
    }
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('names only metrics the service exports', () => {
    const exported = exportedMetrics();
    const problems = targets.flatMap(({ panel, target }) => unknownMetrics(target.expr, exported).map((name) => `${panel.title}: ${name}`));
    expect(problems).toEqual([]);
  });

  it('shows what operators need: ingest, latency, queue depth (max, not sum), processing, delivery, dead letters, workers', () => {
    const exprs = targets.map(({ target }) => target.expr);
    const uses = (pattern: RegExp) => exprs.some((expr) => pattern.test(expr));
    expect(uses(/sum by \(provider, outcome\) \(rate\(webhook_events_received_total/)).toBe(true);
    expect(uses(/histogram_quantile\(0\.99, .*http_request_duration_seconds_bucket/)).toBe(true);
    expect(uses(/^sum by \(state\) \(max by \(namespace, queue, state\) \(webhook_queue_jobs\{/)).toBe(true);
    expect(exprs.filter((expr) => expr.includes('webhook_queue_jobs')).every((expr) => /max by \([^)]*state[^)]*\) \(webhook_queue_jobs/.test(expr))).toBe(true);
    expect(uses(/webhook_queue_oldest_waiting_age_seconds/)).toBe(true);
    expect(uses(/sum by \(status\) \(rate\(webhook_events_processed_total/)).toBe(true);
    expect(uses(/sum by \(destination, result\) \(rate\(webhook_delivery_attempts_total/)).toBe(true);
    expect(uses(/webhook_events_processed_total\{[^}]*status="dead_letter"/)).toBe(true);
    expect(uses(/count\(webhook_worker_concurrency\{[^}]*\} > 0\) or vector\(0\)/)).toBe(true);
    expect(uses(/webhook_delivery_duration_seconds_bucket/)).toBe(true);
    expect(uses(/webhook_processing_duration_seconds_bucket/)).toBe(true);
  });

  it('never guesses from job names, and scopes generic metrics to processes exporting webhook_service_info', () => {
    for (const { panel, target } of targets) {
      const where = `${panel.title}: ${target.expr}`;
      expect({ where, jobMatcher: /\bjob\s*=~?/.test(target.expr) }).toEqual({ where, jobMatcher: false });
      // process_*, nodejs_* and http_request_duration_seconds are exported by any Node app (and Prometheus).
      const generic = metricNames(target.expr).filter((name) => /^(process_|nodejs_|http_request_duration_seconds)/.test(name));
      const scoped = /and on \(namespace, job, instance\) webhook_service_info\{/.test(target.expr);
      const joinedToOwnMetric = /webhook_events_processed_total/.test(target.expr) && generic.every((name) => name === 'process_start_time_seconds');
      if (generic.length > 0) expect({ where, scoped: scoped || joinedToOwnMetric }).toEqual({ where, scoped: true });
    }
  });

  it('keeps retained failed jobs out of the backlog, and NaN out of quantiles and ratios', () => {
    for (const { panel, target } of targets) {
      const where = `${panel.title}: ${target.expr}`;
      if (/webhook_queue_jobs\{/.test(target.expr)) {
        expect({ where, failedExcluded: /state!="failed"|state=~"(waiting|prioritized|active|delayed)(\|(waiting|prioritized|active|delayed))*"/.test(target.expr) }).toEqual({ where, failedExcluded: true });
      }
      if (target.expr.startsWith('histogram_quantile(')) expect({ where, nanFiltered: / >= 0$/.test(target.expr) }).toEqual({ where, nanFiltered: true });
      if (/\) \/ /.test(target.expr)) expect({ where, zeroDenominatorDropped: /\/ \(.*> 0\)$/.test(target.expr) }).toEqual({ where, zeroDenominatorDropped: true });
    }
  });

  it('lays panels out on the 24-column grid without overlaps, each under its row', () => {
    const boxes = dashboard.panels.map((panel) => ({ title: panel.title, ...panel.gridPos }));
    for (const box of boxes) expect({ title: box.title, inside: box.x >= 0 && box.w > 0 && box.x + box.w <= 24 }).toEqual({ title: box.title, inside: true });
    const overlaps = boxes.flatMap((a, i) =>
      boxes.slice(i + 1).filter((b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h).map((b) => `${a.title} / ${b.title}`),
    );
    expect(overlaps).toEqual([]);
    // In file order, as Grafana reads them: a row, then the panels below it.
    const ys = dashboard.panels.map((panel) => panel.gridPos.y);
    expect(ys).toEqual([...ys].sort((a, b) => a - b));
  });

  it('has every panel the runbooks send operators to ("…" outside code)', () => {
    const prose = read('docs/runbooks.md')
      .replace(/```[\s\S]*?```/g, '')
      .replace(/`[^`]*`/g, '');
    // Quoted words that are not panels: the dashboard's title, the "All" of its variables, a time range, a job name part.
    const notPanels = new Set([dashboard.title, 'All', 'Last 5 minutes', 'worker']);
    const titles = new Set(panels.map((panel) => panel.title));
    const named = [...prose.matchAll(/"([^"\n]+(?:\n[^"\n]+)?)"/g)].map((match) => match[1]!.replace(/\s+/g, ' ')).filter((name) => !notPanels.has(name));
    expect(named.length).toBeGreaterThan(10);
    expect([...new Set(named.filter((name) => !titles.has(name)))]).toEqual([]);
  });

  it('shows 0 rather than No data on the worker-only count panels while no worker runs', () => {
    const workerOnly = ['Events processed by status', 'Dead-letter growth', 'Delivery attempts by destination and result', 'Worker replicas', 'Dead letters (range)'];
    for (const title of workerOnly) {
      const panelTargets = targets.filter(({ panel }) => panel.title === title);
      expect({ title, count: panelTargets.length > 0 }).toEqual({ title, count: true });
      for (const { target } of panelTargets) expect({ title, zero: /or (label_replace\()*vector\(0\)/.test(target.expr) }).toEqual({ title, zero: true });
    }
  });
});

describe('Prometheus alert rules', () => {
  const rules = parse(read(RULES_FILE)) as {
    groups: { name: string; rules: { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[];
  };
  const alerts = rules.groups.flatMap((group) => group.rules.filter((rule) => rule.alert));
  const runbooks = read('docs/runbooks.md');
  const anchors = new Set(
    [...runbooks.matchAll(/^#{1,6}\s+(.+)$/gm)].map(([, heading]) => heading!.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')),
  );

  it('is plain Prometheus rule-file format with the alerts the service needs', () => {
    expect(Array.isArray(rules.groups)).toBe(true);
    for (const group of rules.groups) {
      expect(typeof group.name).toBe('string');
      expect(Array.isArray(group.rules)).toBe(true);
    }
    const names = alerts.map((alert) => alert.alert);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining(['WebhookDeadLettersGrowing', 'WebhookQueueBacklogAge', 'WebhookSignatureFailureSpike', 'WebhookDeliveryErrorRate', 'WebhookNoWorkers']),
    );
  });

  it('gives every alert a severity, a summary, a description and a runbook_url into docs/runbooks.md', () => {
    for (const alert of alerts) {
      expect({ alert: alert.alert, severity: alert.labels?.severity }).toEqual({ alert: alert.alert, severity: expect.stringMatching(/^(warning|critical)$/) });
      expect(alert.annotations?.summary?.length).toBeGreaterThan(10);
      expect(alert.annotations?.description?.length).toBeGreaterThan(20);
      const url = alert.annotations?.runbook_url ?? '';
      expect(url).toMatch(/^docs\/runbooks\.md#[a-z0-9-]+$/);
      const anchor = url.split('#')[1]!;
      expect({ alert: alert.alert, anchorFound: anchors.has(anchor) }).toEqual({ alert: alert.alert, anchorFound: true });
      expect(anchor).toBe(alert.alert!.toLowerCase());
      if (alert.for !== undefined) expect(alert.for).toMatch(/^\d+[smh]$/);
    }
  });

  it('counts workers by webhook_worker_concurrency and never by job name', () => {
    for (const alert of alerts) expect({ alert: alert.alert, jobMatcher: /\bjob\s*=~?/.test(alert.expr) }).toEqual({ alert: alert.alert, jobMatcher: false });
    const noWorkers = alerts.find((alert) => alert.alert === 'WebhookNoWorkers')!;
    expect(noWorkers.expr).toMatch(/unless on \(namespace, queue\)\s+count by \(namespace, queue\) \(webhook_worker_concurrency > 0\)/);
  });

  it('names only metrics the service exports, and aggregates the queue gauges with max', () => {
    const exported = exportedMetrics();
    const problems = alerts.flatMap((alert) => unknownMetrics(alert.expr, exported).map((name) => `${alert.alert}: ${name}`));
    expect(problems).toEqual([]);
    for (const alert of alerts.filter((a) => /webhook_queue_/.test(a.expr))) {
      expect(alert.expr).toMatch(/max by \([^)]*\) \(webhook_queue_/);
      expect(alert.expr).not.toMatch(/sum[^(]*\(webhook_queue_/);
    }
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as {
    services: Record<string, {
      image?: string;
      build?: unknown;
      entrypoint?: string[];
      command?: string[];
      environment?: Record<string, string>;
      depends_on?: Record<string, { condition: string }>;
      volumes?: string[];
      ports?: string[];
    }>;
  };
  const { services } = compose;

  it('runs PostgreSQL, Redis, migrate, ingress, worker, Jaeger, Prometheus and Grafana', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['postgres', 'redis', 'migrate', 'ingress', 'worker', 'jaeger', 'prometheus', 'grafana']),
    );
  });

  it('starts ingress and worker from the built image after the one-shot migration succeeded', () => {
    expect(services.migrate!.build).toBeDefined();
    expect([...(services.migrate!.entrypoint ?? []), ...(services.migrate!.command ?? [])]).toEqual(['node', 'dist/services/migrate.js']);
    expect(services.migrate!.depends_on?.postgres?.condition).toBe('service_healthy');
    for (const [name, role] of [['ingress', 'ingress'], ['worker', 'worker']] as const) {
      const service = services[name]!;
      expect(service.image).toBe(services.migrate!.image);
      // The same command line as the image's own CMD, so compose runs the service as Kubernetes does.
      expect([...(service.entrypoint ?? []), ...(service.command ?? [])]).toEqual(['node', ...imageCommand()]);
      expect(imageCommand()).toEqual(expect.arrayContaining(['--import', './dist/services/shared/telemetry/instrumentation.js', 'dist/services/main.js']));
      expect(service.depends_on?.migrate?.condition).toBe('service_completed_successfully');
      expect(service.environment).toMatchObject({
        SERVICE_ROLE: role,
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4317',
        STRIPE_WEBHOOK_SECRET: expect.any(String),
        ADMIN_API_TOKEN: expect.any(String),
        ROUTES_FILE: '/config/routes.yaml',
        DATABASE_URL: expect.stringMatching(/@postgres:5432\//),
        REDIS_URL: expect.stringMatching(/^redis:\/\/redis:6379/),
      });
      expect(service.volumes).toContain('./observability/example-routes.yaml:/config/routes.yaml:ro');
    }
    expect(services.ingress!.ports).toContain('3000:3000');
  });

  it('ships a routes file the service accepts', () => {
    const routes = parseRoutes(read('observability/example-routes.yaml'), 'observability/example-routes.yaml');
    expect(routes.routes.some((route) => route.provider === 'stripe')).toBe(true);
    for (const destination of Object.values(routes.destinations)) expect(new URL(destination.url).hostname).toBe('demo-destination');
    expect(services['demo-destination']).toBeDefined();
  });

  it('has Jaeger take OTLP gRPC on 4317, and Prometheus load the alert rules and scrape both roles', () => {
    expect(services.jaeger!.image).toMatch(/^jaegertracing\/(jaeger|all-in-one):\d/);
    const prometheusVolumes = services.prometheus!.volumes ?? [];
    expect(prometheusVolumes).toContain('./observability/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(prometheusVolumes).toContain(`./${RULES_FILE}:/etc/prometheus/rules/rules.yaml:ro`);

    const config = parse(read('observability/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path?: string; dns_sd_configs?: { names: string[]; port: number }[] }[];
    };
    expect(config.rule_files).toEqual(['/etc/prometheus/rules/rules.yaml']);
    const job = (service: string) => config.scrape_configs.find((scrape) => scrape.dns_sd_configs?.some((sd) => sd.names.includes(service)));
    expect(job('ingress')).toMatchObject({ metrics_path: '/metrics', dns_sd_configs: [{ port: 3000 }] });
    expect(job('worker')).toMatchObject({ metrics_path: '/metrics', dns_sd_configs: [{ port: 3000 }] });
    // Job names do not matter: workers are counted by webhook_worker_concurrency, which only workers export.
    expect(job('worker')!.job_name).not.toBe(job('ingress')!.job_name);
  });

  it('provisions Grafana with Prometheus and the same dashboard file the chart ships', () => {
    const volumes = services.grafana!.volumes ?? [];
    expect(volumes).toContain('./observability/grafana/provisioning:/etc/grafana/provisioning:ro');
    const dashboardsMount = volumes.find((volume) => volume.startsWith(`./${path.dirname(DASHBOARD_FILE)}:`));
    expect(dashboardsMount).toBeDefined();
    const mountedAt = dashboardsMount!.split(':')[1]!;

    const providers = parse(read('observability/grafana/provisioning/dashboards/dashboards.yaml')) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(providers.providers).toEqual([expect.objectContaining({ type: 'file', options: expect.objectContaining({ path: mountedAt }) })]);

    const datasources = parse(read('observability/grafana/provisioning/datasources/datasources.yaml')) as {
      datasources: { type: string; url: string; isDefault?: boolean }[];
    };
    expect(datasources.datasources).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true })]),
    );
  });
});

/** The runtime image's CMD (the last CMD of the Dockerfile, exec form). */
function imageCommand(): string[] {
  const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const commands = [...dockerfile.matchAll(/^CMD (\[.*\])$/gm)];
  return JSON.parse(commands.at(-1)![1]!) as string[];
}
