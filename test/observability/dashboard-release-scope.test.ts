/**
 * Every dashboard query reads only the release and the queue the operator picked, evaluated by promtool on the
 * series of several releases of the chart in one namespace: "shop" and "billing" both keep the default QUEUE_NAME
 * (webhook-events), "orders" runs QUEUE_NAME=orders. The chart's ServiceMonitor copies app_kubernetes_io_instance
 * (the release) onto every series; docker-compose and other scrape configs have no such label.
 *
 * The same processes' series are copied into other namespaces, which hold fewer releases, so each panel's answer
 * with a variable set can be compared with its answer where only the selected processes exist:
 * - namespace "all": shop, billing and orders; "only-shop": shop alone; "only-orders": orders alone;
 * - namespace "bare": shop's series without app_kubernetes_io_instance (a scrape that does not add it).
 * Checks, for every target of every panel:
 * - Release "shop" in "all" answers what "only-shop" answers (billing, on the same queue name, never mixes in);
 * - Queue "orders" in "all" answers what "only-orders" answers (the panels whose series carry no queue label too);
 * - Release "All" in "bare" answers what "only-shop" answers (the "All" value matches series without the label);
 * - with every variable "All", "all" and "only-shop" differ: the input gives the panel something to tell apart.
 *
 * Needs Debian's `prometheus` package (promtool); skipped with a message when it is missing, unless
 * REQUIRE_PROMETHEUS is set (CI), which makes that a failure.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';
import { metricNames } from './support/promql-metric-names.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DASHBOARD_FILE = path.join(root, 'charts/event-integration-service/files/dashboards/event-integration-service.json');

const binaries = prometheusBinaries(['promtool']);

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: { refId: string; expr: string }[];
}
interface Variable {
  name: string;
  definition?: string;
  includeAll?: boolean;
  allValue?: string;
  multi?: boolean;
}
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Panel[]; templating: { list: Variable[] } };
const targets = dashboard.panels
  .filter((panel) => panel.type !== 'row')
  .flatMap((panel) => (panel.targets ?? []).map((target) => ({ name: `${panel.title} (${panel.id}/${target.refId})`, expr: target.expr })));

/** A release of the chart: its queue, and a factor that sets its values apart from the others'. */
interface Release {
  name: string;
  queue: string;
  k: number;
}
const SHOP: Release = { name: 'shop', queue: 'webhook-events', k: 1 };
const BILLING: Release = { name: 'billing', queue: 'webhook-events', k: 3 };
const ORDERS: Release = { name: 'orders', queue: 'orders', k: 5 };
const RELEASES = [SHOP, BILLING, ORDERS];

/** Which releases each namespace holds, and whether its series carry the release label. */
const NAMESPACES: { namespace: string; releases: Release[]; releaseLabel: boolean }[] = [
  { namespace: 'all', releases: RELEASES, releaseLabel: true },
  { namespace: 'only-shop', releases: [SHOP], releaseLabel: true },
  { namespace: 'only-orders', releases: [ORDERS], releaseLabel: true },
  { namespace: 'bare', releases: [SHOP], releaseLabel: false },
];

/** A counter that grows by `perMinute` every minute, over the test's 20 minutes. */
const counter = (perMinute: number) => `0+${perMinute}x20`;
const gauge = (value: number) => `${value}x20`;
/** Cumulative histogram buckets per minute; each release's distribution differs (its k), so quantiles differ. */
const buckets = (k: number): [string, number][] => [
  ['0.1', k === 1 ? 1 : k === 3 ? 0 : 2],
  ['0.5', k === 1 ? 2 : k === 3 ? 0 : 4],
  ['1', k === 1 ? 4 : k === 3 ? 6 : 5],
  ['+Inf', k === 1 ? 4 : k === 3 ? 6 : 5],
];

/** The series one process of a release exports, as [metric, labels, values]. */
function processSeries(release: Release, role: 'ingress' | 'worker'): [string, Record<string, string>, string][] {
  const { k, queue } = release;
  const series: [string, Record<string, string>, string][] = [
    ['webhook_service_info', { role, queue }, gauge(1)],
    ['process_start_time_seconds', {}, gauge(0)],
    ['process_cpu_seconds_total', {}, counter(k)],
    ['process_resident_memory_bytes', {}, gauge(100_000_000 * k)],
    ['nodejs_eventloop_lag_p99_seconds', {}, gauge(0.01 * k)],
    ['webhook_dependency_up', { dependency: 'redis' }, gauge(1)],
    ...(['waiting', 'prioritized', 'active', 'delayed', 'failed'].map((state) => ['webhook_queue_jobs', { queue, state }, gauge(5 * k)]) as [string, Record<string, string>, string][]),
    ['webhook_queue_oldest_waiting_age_seconds', { queue }, gauge(10 * k)],
    ['webhook_events_unfinished', { queue }, gauge(4 * k)],
  ];
  if (role === 'ingress') {
    series.push(
      ['webhook_dependency_up', { dependency: 'database' }, gauge(k === 3 ? 0 : 1)],
      ['webhook_events_received_total', { provider: 'stripe', outcome: 'accepted' }, counter(2 * k)],
      ['webhook_events_received_total', { provider: 'stripe', outcome: 'duplicate' }, counter(k)],
      ['webhook_events_received_total', { provider: 'stripe', outcome: 'invalid_signature' }, counter(k)],
      ['webhook_admin_auth_refused_total', { reason: 'wrong_token' }, counter(k)],
      ['webhook_admin_auth_refused_total', { reason: 'budget_spent' }, counter(k)],
      ['webhook_enqueue_failures_total', {}, counter(k)],
    );
    for (const [le, perMinute] of buckets(k)) {
      series.push(['http_request_duration_seconds_bucket', { method: 'POST', route: '/webhooks/:provider', status_code: '202', le }, counter(perMinute)]);
    }
    series.push(['http_request_duration_seconds_count', { method: 'POST', route: '/webhooks/:provider', status_code: '202' }, counter(buckets(k)[3]![1])]);
  } else {
    series.push(
      ['webhook_worker_concurrency', { queue }, gauge(4 * k)],
      ['webhook_events_processed_total', { provider: 'stripe', status: 'completed' }, counter(2 * k)],
      ['webhook_events_processed_total', { provider: 'stripe', status: 'failed' }, counter(k)],
      ['webhook_events_processed_total', { provider: 'stripe', status: 'dead_letter' }, counter(k)],
      ['webhook_delivery_attempts_total', { destination: 'ok', result: 'success' }, counter(k === 1 ? 3 : 1)],
      ['webhook_delivery_attempts_total', { destination: 'ok', result: 'http_error' }, counter(k === 1 ? 1 : 3)],
      ['webhook_reconciler_requeued_total', { status: 'PENDING' }, counter(k)],
      ['webhook_destination_circuit_open_seconds', { destination: 'ok' }, gauge(10 * k)],
      ['webhook_destination_events_waiting', { destination: 'ok' }, gauge(k)],
      ['webhook_destination_oldest_waiting_age_seconds', { destination: 'ok' }, gauge(60 * k)],
      ['webhook_destination_paused', { destination: 'ok' }, gauge(k === 3 ? 1 : 0)],
      ['webhook_destination_deferred_total', { destination: 'ok', reason: 'circuit_open' }, counter(k)],
    );
    for (const [le, perMinute] of buckets(k)) {
      series.push(['webhook_processing_duration_seconds_bucket', { provider: 'stripe', le }, counter(perMinute)]);
      series.push(['webhook_delivery_duration_seconds_bucket', { destination: 'ok', le }, counter(perMinute)]);
    }
  }
  return series;
}

const inputSeries = NAMESPACES.flatMap(({ namespace, releases, releaseLabel }) =>
  releases.flatMap((release) =>
    (['ingress', 'worker'] as const).flatMap((role, roleIndex) =>
      processSeries(release, role).map(([metric, labels, values]) => {
        const all = {
          namespace,
          ...(releaseLabel ? { app_kubernetes_io_instance: release.name } : {}),
          job: `${release.name}-event-integration-service-${role}`,
          // The same process in every namespace it is copied to (the process panels show job and instance).
          instance: `10.0.${RELEASES.indexOf(release)}.${roleIndex + 1}:3000`,
          ...labels,
        };
        return { series: `${metric}{${Object.entries(all).map(([key, value]) => `${key}="${value}"`).join(',')}}`, values };
      }),
    ),
  ),
);

/** The expression as Grafana sends it with these variable values (a 10-minute range, a 5-minute rate interval). */
const grafana = (expr: string, variables: { namespace: string; release: string; queue: string }) =>
  (
    [
      ['$__rate_interval', '5m'],
      ['$__range_s', '600'],
      ['$__range', '10m'],
      ['$namespace', variables.namespace],
      ['$release', variables.release],
      ['$queue', variables.queue],
    ] as [string, string][]
  ).reduce((text, [name, value]) => text.split(name).join(value), expr);

/**
 * 1 when the two answers differ (a value, or a series only one of them has), else 0. Each answer is read in one
 * namespace, so the namespace label (and the release label, absent in "bare") is dropped before comparing: the
 * queue panels keep it apart per namespace and release.
 */
const differs = (leftExpr: string, rightExpr: string) => {
  const [left, right] = [leftExpr, rightExpr].map((expr) => `sum without (namespace, app_kubernetes_io_instance) (${expr})`);
  return `clamp_max(count((abs(${left} - ${right}) > 1e-9) or (${left} unless ${right}) or (${right} unless ${left})), 1) or vector(0)`;
};

const ALL = '.*';
const checks = (expr: string): { name: string; expr: string; value: 0 | 1 }[] => [
  {
    name: 'release shop in "all" answers as "only-shop"',
    expr: differs(grafana(expr, { namespace: 'all', release: SHOP.name, queue: ALL }), grafana(expr, { namespace: 'only-shop', release: SHOP.name, queue: ALL })),
    value: 0,
  },
  {
    name: 'queue orders in "all" answers as "only-orders"',
    expr: differs(grafana(expr, { namespace: 'all', release: ALL, queue: ORDERS.queue }), grafana(expr, { namespace: 'only-orders', release: ALL, queue: ORDERS.queue })),
    value: 0,
  },
  {
    name: 'release All matches series without the release label',
    expr: differs(grafana(expr, { namespace: 'bare', release: ALL, queue: ALL }), grafana(expr, { namespace: 'only-shop', release: ALL, queue: ALL })),
    value: 0,
  },
  {
    name: 'with every variable All, "all" and "only-shop" differ (the input tells them apart)',
    expr: differs(grafana(expr, { namespace: 'all', release: ALL, queue: ALL }), grafana(expr, { namespace: 'only-shop', release: ALL, queue: ALL })),
    value: 1,
  },
  {
    name: 'release shop answers something',
    expr: `clamp_max(count(${grafana(expr, { namespace: 'only-shop', release: SHOP.name, queue: ALL })}), 1) or vector(0)`,
    value: 1,
  },
];

/** The names of the checks promtool found failing for one expression. */
function failingChecks(expr: string): string[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'dashboard-scope-'));
  try {
    const file = path.join(dir, 'tests.yaml');
    const cases = checks(expr);
    writeFileSync(
      file,
      stringify({
        rule_files: [],
        evaluation_interval: '1m',
        tests: cases.map((check) => ({
          name: check.name,
          interval: '1m',
          input_series: inputSeries,
          promql_expr_test: [{ expr: check.expr, eval_time: '20m', exp_samples: [{ labels: '{}', value: check.value }] }],
        })),
      }),
    );
    const run = spawnSync(binaries.promtool!, ['test', 'rules', file], { encoding: 'utf8', timeout: 120_000 });
    const output = `${run.stdout}\n${run.stderr}`;
    if (run.status === 0) return [];
    // promtool names the failing expression (quoted as Go does, which JSON.stringify matches for this text).
    const failed = cases.filter((check) => output.includes(`expr: ${JSON.stringify(check.expr)}`)).map((check) => check.name);
    return failed.length > 0 ? failed : [`promtool failed: ${output.slice(0, 2000)}`];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('dashboard queries with several releases and queues in one namespace', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'promtool checks')) return;

  it('has a Release variable of app_kubernetes_io_instance whose "All" matches series without it; Queue lists the chosen releases\' queues', () => {
    const variable = (name: string) => dashboard.templating.list.find((v) => v.name === name);
    expect(variable('release')).toMatchObject({
      definition: 'label_values(webhook_service_info{namespace=~"$namespace"}, app_kubernetes_io_instance)',
      includeAll: true,
      allValue: '.*',
      multi: true,
    });
    expect(variable('queue')?.definition).toContain('app_kubernetes_io_instance=~"$release"');
  });

  it('the input has series of every metric a panel reads', () => {
    const given = new Set(inputSeries.map((s) => s.series.slice(0, s.series.indexOf('{'))));
    const read = [...new Set(targets.flatMap((target) => metricNames(target.expr)))];
    expect(read.filter((name) => !given.has(name))).toEqual([]);
  });

  it.each(targets)('$name', ({ expr }) => {
    expect(failingChecks(expr)).toEqual([]);
  }, 120_000);
});
