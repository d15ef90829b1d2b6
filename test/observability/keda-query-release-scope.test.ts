/**
 * The ScaledObject's Prometheus query, evaluated by promtool on the series of two releases in one namespace that both
 * keep the default QUEUE_NAME (webhook-events), each with its own Redis and PostgreSQL. The chart's ServiceMonitor
 * copies app_kubernetes_io_instance (the release) onto every series, so the query can, and must, read its own
 * release's gauges only: the namespace and queue alone would take the other release's backlog (`max` across pods)
 * and scale these workers on it, or keep them up for the other's unfinished events with minReplicas 0.
 *
 * Needs Debian's `prometheus` package (promtool); skipped with a message when it is missing, unless
 * REQUIRE_PROMETHEUS is set (CI), which makes that a failure.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { releaseName, releaseNamespace, renderChart } from '../chart/helm.js';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';

const binaries = prometheusBinaries(['promtool']);
const OTHER_RELEASE = 'shop';

const kedaQuery = (set: string[]): string => {
  const scaled = renderChart([], ['autoscaling.keda.enabled=true', 'metrics.serviceMonitor.enabled=true', ...set]).find((o) => o.kind === 'ScaledObject')!;
  return (scaled.spec.triggers[0] as { metadata: { query: string } }).metadata.query;
};

/** A gauge series of one release's pod, as the Prometheus Operator labels a ServiceMonitor target. */
const series = (release: string, metric: string, labels: Record<string, string>, values: string) => ({
  series: `${metric}{${Object.entries({
    namespace: releaseNamespace,
    app_kubernetes_io_instance: release,
    job: `${release}-event-integration-service-worker`,
    instance: release === releaseName ? '10.0.0.5:3000' : '10.0.1.5:3000',
    queue: 'webhook-events',
    ...labels,
  })
    .map(([key, value]) => `${key}="${value}"`)
    .join(',')}}`,
  values,
});

/** What `expr` evaluates to (its one sample's value, or undefined for no sample) according to promtool. */
function evaluate(expr: string, inputSeries: { series: string; values: string }[], expected: number | undefined): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'keda-query-'));
  try {
    const file = path.join(dir, 'tests.yaml');
    writeFileSync(
      file,
      stringify({
        rule_files: [],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: inputSeries,
            promql_expr_test: [{ expr, eval_time: '5m', exp_samples: expected === undefined ? [] : [{ labels: '{}', value: expected }] }],
          },
        ],
      }),
    );
    const run = spawnSync(binaries.promtool!, ['test', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
    return { status: run.status, output: `${run.stdout}\n${run.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SUCCESS = { status: 0, output: expect.stringContaining('SUCCESS') };

describe('KEDA query with another release of the chart in the namespace (same queue name)', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'promtool checks')) return;

  // This release is idle; the other has a backlog of 500 waiting jobs, retries in backoff and unfinished events.
  const input = [
    ...['waiting', 'prioritized', 'active', 'delayed'].map((state) => series(releaseName, 'webhook_queue_jobs', { state }, '0x10')),
    series(releaseName, 'webhook_events_unfinished', {}, '0x10'),
    series(OTHER_RELEASE, 'webhook_queue_jobs', { state: 'waiting' }, '500x10'),
    series(OTHER_RELEASE, 'webhook_queue_jobs', { state: 'prioritized' }, '0x10'),
    series(OTHER_RELEASE, 'webhook_queue_jobs', { state: 'active' }, '32x10'),
    series(OTHER_RELEASE, 'webhook_queue_jobs', { state: 'delayed' }, '7x10'),
    series(OTHER_RELEASE, 'webhook_events_unfinished', {}, '540x10'),
  ];

  it('minReplicas ≥ 1: this release’s backlog (0), not the other’s', () => {
    const query = kedaQuery(['autoscaling.keda.minReplicas=1']);
    expect(evaluate(query, input, 0)).toEqual(SUCCESS);
    expect(query).toContain(`app_kubernetes_io_instance="${releaseName}"`);
  });

  it('minReplicas 0: no worker woken for the other release’s retries and unfinished events', () => {
    const query = kedaQuery(['autoscaling.keda.minReplicas=0']);
    expect(evaluate(query, input, 0)).toEqual(SUCCESS);
  });

  it('without the chart’s ServiceMonitor (no release label on the series) the query keeps to namespace and queue', () => {
    const scaled = renderChart([], ['autoscaling.keda.enabled=true', 'autoscaling.keda.minReplicas=1']).find((o) => o.kind === 'ScaledObject')!;
    expect((scaled.spec.triggers[0] as { metadata: { query: string } }).metadata.query).not.toContain('app_kubernetes_io_instance');
  });
});
