/**
 * The monitoring files the chart and docker-compose ship: the Grafana dashboard, the Prometheus alert rules,
 * their runbooks, docker-compose.yml and its Prometheus / Grafana provisioning. Every PromQL expression may only
 * name metrics the service registers, select and group by labels those metrics carry, and match the values the
 * service gives its enumerated labels (an outcome, status, result, state or reason it never exports matches nothing,
 * and the alert or panel stays silent for ever).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import type { ServiceRole } from '../../services/shared/config/config.js';
import { ADMIN_AUTH_REFUSALS } from '../../services/shared/metrics/admin-auth-metrics.js';
import { DependencyGauge } from '../../services/shared/metrics/dependency-gauge.js';
import {
  CIRCUIT_STATES,
  CIRCUIT_TRANSITIONS,
  DEFERRAL_REASONS,
  DestinationStateGauges,
} from '../../services/shared/metrics/destination-protection-metrics.js';
import { DELIVERY_RESULTS, PROCESSED_STATUSES, RECEIVE_OUTCOMES, RECONCILED_STATUSES, registry } from '../../services/shared/metrics/metrics.js';
import { QueueDepthGauge } from '../../services/shared/metrics/queue-depth-gauge.js';
import { UnfinishedEventsGauge } from '../../services/shared/metrics/unfinished-events-gauge.js';
import type { QueueJobCounts } from '../../services/shared/queue/event-queue.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';
import { familyOf, metricNames } from './support/promql-metric-names.js';
import { groupingLabels, labelsAdded, literalValues, selectors } from './support/promql-selectors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

const DASHBOARD_FILE = 'charts/event-integration-service/files/dashboards/event-integration-service.json';
const RULES_FILE = 'charts/event-integration-service/files/alerts/rules.yaml';
const RULE_TEMPLATE_FILE = 'charts/event-integration-service/templates/prometheusrule.yaml';
const METRICS_DIR = 'services/shared/metrics';

/**
 * Every module of services/shared/metrics, loaded: a metric is registered when its module is imported, so a check
 * against the modules this file happens to import misses the metrics of the others (webhook_admin_auth_refused_total
 * was one).
 */
beforeAll(async () => {
  const modules = readdirSync(path.join(root, METRICS_DIR)).filter((file) => file.endsWith('.ts'));
  for (const file of modules) await import(path.join(root, METRICS_DIR, file));
});

/**
 * Every metric family the service exports, with its label names (the queue, unfinished-events, dependency and
 * destination-state gauges are registered when their class is built).
 */
function exportedMetrics(): Map<string, readonly string[]> {
  // Never collected here: the source is not read unless the registry is scraped.
  new QueueDepthGauge('names-only', {
    counts: async () => ({ waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 0 }),
    queue: { getWaiting: async () => [] },
  });
  new UnfinishedEventsGauge('names-only', { query: async () => ({ rows: [{ n: 0 }] }) });
  new DependencyGauge({});
  new DestinationStateGauges({ names: [], withBreaker: new Set(), read: async () => ({ now: 0, views: [] }), held: async () => [], recordedPauses: async () => [] });
  return new Map(registry.getMetricsAsArray().map((metric) => [metric.name, (metric as unknown as { labelNames?: string[] }).labelNames ?? []]));
}

/** Metrics not exported by the service that the files may use (none today; `up` would go here). */
const EXTERNAL_METRICS = new Set<string>();

function unknownMetrics(expr: string, exported: Map<string, readonly string[]>): string[] {
  const names = new Set(exported.keys());
  return metricNames(expr).filter((name) => !familyOf(name, names) && !EXTERNAL_METRICS.has(name));
}

/**
 * Labels every series carries whatever its metric: those the Prometheus Operator gives a ServiceMonitor's targets,
 * and those the chart's ServiceMonitor copies from the Services (targetLabels). docker-compose's have job and
 * instance.
 */
const TARGET_LABELS = ['namespace', 'job', 'instance', 'pod', 'container', 'endpoint', 'service', 'app_kubernetes_io_instance', 'app_kubernetes_io_component'];

/** BullMQ states the queue gauge exports (`satisfies`: tsc fails here when QueueJobCounts gains or loses one). */
const QUEUE_STATES = Object.keys({ waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 0 } satisfies QueueJobCounts);
/** Roles of `webhook_service_info` (`satisfies`: tsc fails here when a role is added or removed). */
const ROLES = Object.keys({ ingress: true, worker: true, all: true } satisfies Record<ServiceRole, true>);

/** The values the service gives each enumerated label, by metric (from the constants the code counts with). */
const LABEL_VALUES: Record<string, Record<string, readonly string[]>> = {
  webhook_events_received_total: { outcome: RECEIVE_OUTCOMES },
  webhook_events_processed_total: { status: PROCESSED_STATUSES },
  webhook_delivery_attempts_total: { result: DELIVERY_RESULTS },
  webhook_reconciler_requeued_total: { status: RECONCILED_STATUSES },
  webhook_admin_auth_refused_total: { reason: ADMIN_AUTH_REFUSALS },
  webhook_destination_deferred_total: { reason: DEFERRAL_REASONS },
  webhook_destination_circuit_transitions_total: { to: CIRCUIT_TRANSITIONS },
  webhook_destination_circuit_state: { state: CIRCUIT_STATES },
  webhook_queue_jobs: { state: QUEUE_STATES },
  // The health checks services/runtime/service.ts gives the DependencyGauge.
  webhook_dependency_up: { dependency: ['database', 'redis'] },
  webhook_service_info: { role: ROLES },
};

/**
 * What is wrong with the labels of one expression: a matcher on a label its metric does not carry, a grouping or
 * matching clause on a label no metric of the expression carries (nor label_replace adds), a literal value of an
 * enumerated label the service never exports.
 */
function labelProblems(expr: string, exported: Map<string, readonly string[]>): string[] {
  const names = new Set(exported.keys());
  const labelsOf = (name: string): string[] => {
    const family = familyOf(name, names);
    if (family === undefined) return [];
    return [...TARGET_LABELS, ...exported.get(family)!, ...(name.endsWith('_bucket') ? ['le'] : [])];
  };
  const problems: string[] = [];
  for (const selector of selectors(expr)) {
    const family = familyOf(selector.metric, names);
    if (family === undefined) continue; // unknownMetrics reports it
    const carried = labelsOf(selector.metric);
    for (const matcher of selector.matchers) {
      if (!carried.includes(matcher.label)) {
        problems.push(`${selector.metric} has no label ${matcher.label} (it has ${exported.get(family)!.join(', ') || 'none'})`);
        continue;
      }
      const known = LABEL_VALUES[family]?.[matcher.label];
      const values = literalValues(matcher);
      if (!known || !values) continue;
      for (const value of values.filter((v) => !known.includes(v))) {
        problems.push(`${selector.metric}{${matcher.label}${matcher.op}"${matcher.value}"}: ${matcher.label} is never "${value}" (${known.join(', ')})`);
      }
    }
  }
  const carriedByAny = new Set([...metricNames(expr).flatMap(labelsOf), ...labelsAdded(expr)]);
  for (const label of groupingLabels(expr).filter((l) => !carriedByAny.has(l))) problems.push(`no series of the expression carries ${label}`);
  return problems;
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

  it('finds a label a metric does not carry, a grouping label no series has, and a value the service never exports', () => {
    const exported = exportedMetrics();
    expect(
      labelProblems(
        'sum by (namespace, destination) (rate(webhook_events_received_total{outcome=~"accepted|unavalable", destination="x"}[5m])) ' +
          'and on (namespace, job, instance) webhook_service_info{role="ingress"}',
        exported,
      ),
    ).toEqual([
      'webhook_events_received_total{outcome=~"accepted|unavalable"}: outcome is never "unavalable" (' + RECEIVE_OUTCOMES.join(', ') + ')',
      'webhook_events_received_total has no label destination (it has provider, outcome)',
      'no series of the expression carries destination',
    ]);
    // Target labels, `le` of a histogram's buckets, labels label_replace adds, regexes and Grafana variables pass.
    expect(
      labelProblems(
        'histogram_quantile(0.99, sum by (le, pod) (rate(webhook_delivery_duration_seconds_bucket{namespace=~"$namespace", destination=~"a.*"}[5m]))) ' +
          'or label_replace(vector(0), "status", "all", "", "") or sum by (status) (webhook_queue_jobs{state!="failed"})',
        exported,
      ),
    ).toEqual([]);
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

  it('selects and groups by labels its metrics carry, and matches only label values the service exports', () => {
    const exported = exportedMetrics();
    const problems = targets.flatMap(({ panel, target }) => labelProblems(target.expr, exported).map((problem) => `${panel.title}: ${problem}`));
    expect(problems).toEqual([]);
  });

  it('shows what operators need: ingest, latency, queue depth (max, not sum), processing, delivery, dead letters, workers', () => {
    const exprs = targets.map(({ target }) => target.expr);
    const uses = (pattern: RegExp) => exprs.some((expr) => pattern.test(expr));
    expect(uses(/sum by \(provider, outcome\) \(rate\(webhook_events_received_total/)).toBe(true);
    expect(uses(/histogram_quantile\(0\.99, .*http_request_duration_seconds_bucket/)).toBe(true);
    expect(uses(/^sum by \(state\) \(max by \(namespace, app_kubernetes_io_instance, queue, state\) \(webhook_queue_jobs\{/)).toBe(true);
    expect(exprs.filter((expr) => expr.includes('webhook_queue_jobs')).every((expr) => /max by \([^)]*state[^)]*\) \(webhook_queue_jobs/.test(expr))).toBe(true);
    expect(uses(/webhook_queue_oldest_waiting_age_seconds/)).toBe(true);
    expect(uses(/sum by \(status\) \(rate\(webhook_events_processed_total/)).toBe(true);
    expect(uses(/sum by \(namespace, app_kubernetes_io_instance, destination, result\) \(rate\(webhook_delivery_attempts_total/)).toBe(true);
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

  it('shows 0 rather than No data on the worker-only count panels while no worker runs, and a labelled 0 only then', () => {
    const workerOnly = ['Events processed by status', 'Dead-letter growth', 'Delivery attempts by destination and result', 'Worker replicas', 'Dead letters (range)'];
    for (const title of workerOnly) {
      const panelTargets = targets.filter(({ panel }) => panel.title === title);
      expect({ title, count: panelTargets.length > 0 }).toEqual({ title, count: true });
      for (const { target } of panelTargets) expect({ title, zero: /or \(?(label_replace\()*vector\(0\)/.test(target.expr) }).toEqual({ title, zero: true });
    }
    // A labelled 0 (label_replace) matches none of the left side's series, so `or` alone would draw it always, next
    // to the worker's lines: it must be dropped while the left side has any (prometheus-queries.test.ts checks both).
    const labelledZeros = targets.filter(({ target }) => /label_replace\(vector\(0\)/.test(target.expr));
    expect(labelledZeros.length).toBeGreaterThan(0);
    for (const { panel, target } of labelledZeros) {
      const guarded = /or \((label_replace\()+vector\(0\)[^]*\) unless on \(\) [^]+\)$/.test(target.expr);
      expect({ title: panel.title, guarded }).toEqual({ title: panel.title, guarded: true });
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
    expect(noWorkers.expr).toMatch(/unless on \(namespace, app_kubernetes_io_instance, queue\)\s+count by \(namespace, app_kubernetes_io_instance, queue\) \(webhook_worker_concurrency > 0\)/);
  });

  it('selects and groups by labels its metrics carry, and matches only label values the service exports', () => {
    const exported = exportedMetrics();
    const problems = alerts.flatMap((alert) => labelProblems(alert.expr, exported).map((problem) => `${alert.alert}: ${problem}`));
    expect(problems).toEqual([]);
  });

  it('has a runbook section per alert, its own and the PrometheusRule template\'s, and none for an alert that does not exist', () => {
    const templateAlerts = [...read(RULE_TEMPLATE_FILE).matchAll(/^\s*- alert: (\w+)$/gm)].map((match) => match[1]!);
    expect(templateAlerts).toEqual(['WebhookIngressAbsent', 'WebhookWorkersAbsent']);
    const sections = [...runbooks.matchAll(/^## (.+)$/gm)].map((match) => match[1]!).filter((heading) => heading !== 'Signals at hand');
    expect([...sections].sort()).toEqual([...alerts.map((alert) => alert.alert!), ...templateAlerts].sort());
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

describe('metrics as the docs name them', () => {
  /**
   * `name{label,…}` and `name{label="a|b"}` in code spans of the runbooks and the README (the notation they list a
   * metric's labels and values in, and the selectors they tell the operator to query), as label and values.
   */
  const mentions = (text: string) =>
    [...text.matchAll(/`([a-z_]+)\{([^}`]*)\}/g)].flatMap((match) =>
      match[2]!
        .split(',')
        .map((part) => /^\s*([A-Za-z_]\w*)\s*(?:(=~|!~|!=|=)\s*"([^"]*)")?\s*$/.exec(part))
        .filter((part) => part !== null)
        .map((part) => ({ metric: match[1]!, text: match[0] + '`', label: part[1]!, values: part[3]?.split('|') })),
    );

  it.each(['docs/runbooks.md', 'README.md'])('%s names only labels the metrics carry, and values the service exports', (file) => {
    const exported = exportedMetrics();
    const names = new Set(exported.keys());
    const problems: string[] = [];
    for (const mention of mentions(read(file))) {
      const family = familyOf(mention.metric, names);
      if (family === undefined) continue; // a table name, a Secret key: not a metric
      const carried = [...TARGET_LABELS, ...exported.get(family)!, ...(mention.metric.endsWith('_bucket') ? ['le'] : [])];
      if (!carried.includes(mention.label)) problems.push(`${mention.text}: ${family} has no label ${mention.label}`);
      const known = LABEL_VALUES[family]?.[mention.label];
      const literal = mention.values?.filter((value) => /^[\w:/-]+$/.test(value) && !value.includes('<'));
      for (const value of (known && literal) || []) if (!known!.includes(value)) problems.push(`${mention.text}: ${mention.label} is never "${value}"`);
    }
    expect(problems).toEqual([]);
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
