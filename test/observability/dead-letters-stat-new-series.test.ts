/**
 * The dashboard's "Dead letters (range)" stat for a series that first appears already above 0 on a process older
 * than the range. The service creates each configured provider's dead-letter counter at 0 when it starts, but an
 * event of a provider since removed from the configuration can still be dead-lettered: prom-client creates that
 * series at its first inc(), so Prometheus first sees it at 1. increase() never sees that step, and the stat's
 * whole-counter branch covers only processes younger than the range: the stat read 0.
 *
 * promtool evaluates the stat's own expression (a 10-minute range) on a worker that runs since before the test:
 * - "legacy" (removed from the configuration) appears at 1 at 20m, and goes to 2 at 22m;
 * - "stripe" has been at 1 since before the test (a dead letter long ago): never counted;
 * - "paypal" is at 1 for long, unscraped from 31m to 45m (the pod unreachable), then at 1 again: not counted.
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
import { deadLettersStatExpr, WORKER_JOB } from './support/dead-lettering-service.js';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';

const binaries = prometheusBinaries(['promtool']);
const stat = deadLettersStatExpr(600, '10m');

const LABELS = `namespace="webhooks",app_kubernetes_io_instance="eis",job="${WORKER_JOB}",instance="10.0.0.5:3000"`;
const inputSeries = [
  { series: `webhook_service_info{${LABELS},role="worker",queue="webhook-events"}`, values: '1x60' },
  { series: `process_start_time_seconds{${LABELS}}`, values: '0x60' },
  { series: `webhook_events_processed_total{${LABELS},provider="legacy",status="dead_letter"}`, values: '_x20 1x2 2x38' },
  { series: `webhook_events_processed_total{${LABELS},provider="stripe",status="dead_letter"}`, values: '1x60' },
  { series: `webhook_events_processed_total{${LABELS},provider="paypal",status="dead_letter"}`, values: '1x30 _x15 1x15' },
];

/** The stat's value at each evaluation time, as the test expects it. */
const EXPECTED: [string, number][] = [
  ['19m', 0], // nothing new yet
  ['20m', 1], // legacy's first dead letter, first seen at 1
  ['25m', 2], // and its second (22m)
  ['31m', 1], // 20m has left the range, 22m's step is in it
  ['33m', 0], // both have left the range
  ['50m', 0], // paypal's samples are back since 46m: nothing new
  ['60m', 0],
];

describe('"Dead letters (range)" for a series that first appears above 0 on an old process', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'promtool checks')) return;

  it('counts its whole value while it is in the range, and nothing for series flat for long', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dead-letters-stat-'));
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
              promql_expr_test: EXPECTED.map(([at, value]) => ({ expr: stat, eval_time: at, exp_samples: [{ labels: '{}', value }] })),
            },
          ],
        }),
      );
      const run = spawnSync(binaries.promtool!, ['test', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
      const output = `${run.stdout}\n${run.stderr}`;
      // promtool prints each failing evaluation with its time and the samples it got.
      const failed = [...output.matchAll(/time: (\S+),\n\s+exp: (.*)\n\s+got: (.*)/g)].map(([, time, exp, got]) => `${time}: expected ${exp}, got ${got}`);
      expect({ status: run.status, failed }).toEqual({ status: 0, failed: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
