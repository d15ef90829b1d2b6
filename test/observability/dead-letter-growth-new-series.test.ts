/**
 * The dashboard's "Dead-letter growth" panel for a dead-letter series that first appears already above 0. prom-client
 * creates a labelled counter series at its first inc(): a provider removed from the configuration has no counter
 * created at 0, so its first dead letter (an event stored before the change) is first scraped at 1, on a pod of any
 * age; and a new pod that dead-letters before its first scrape shows its pre-created counter first at 1 too.
 * increase() needs two samples and never sees that step: the panel stayed at 0 for such a series.
 *
 * promtool evaluates the panel's own expression, read from the dashboard JSON (the chart ships that file verbatim in
 * its ConfigMap: chart-render.test.ts), with Grafana's variables as it sends them ($__rate_interval 4m, namespace,
 * release and queue "All"), at 1-minute scrapes:
 * - worker a (running since before the test): "legacy" (removed from the configuration) appears at 1 at 20m;
 *   "stripe" has been at 1 since before the test; "paypal" is at 1 for long, unscraped from 31m to 45m (the pod
 *   unreachable), then at 1 again;
 * - worker b starts at 40m and dead-lettered a Stripe event before its first scrape: its stripe counter is first
 *   scraped at 1.
 * A new series counts its whole value while it is younger than the rate interval; a series flat for long counts 0,
 * also after a scrape gap of under an hour; no "all" line while a worker runs.
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
import { WORKER_JOB } from './support/dead-lettering-service.js';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DASHBOARD_FILE = path.join(root, 'charts/event-integration-service/files/dashboards/event-integration-service.json');

const binaries = prometheusBinaries(['promtool']);

/** The panel's expression as Grafana sends it: $__rate_interval 4m (four 1-minute scrapes), every variable "All". */
function deadLetterGrowthExpr(): string {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
  const panel = dashboard.panels.find((candidate) => candidate.title === 'Dead-letter growth')!.targets![0]!.expr;
  const variables: [string, string][] = [
    ['$__rate_interval', '4m'],
    ['$namespace', '.*'],
    ['$release', '.*'],
    ['$queue', '.*'],
  ];
  return variables.reduce((text, [name, value]) => text.split(name).join(value), panel);
}

const WORKER_A = `namespace="webhooks",app_kubernetes_io_instance="eis",job="${WORKER_JOB}",instance="10.0.0.5:3000"`;
const WORKER_B = `namespace="webhooks",app_kubernetes_io_instance="eis",job="${WORKER_JOB}",instance="10.0.0.6:3000"`;
const inputSeries = [
  { series: `webhook_service_info{${WORKER_A},role="worker",queue="webhook-events"}`, values: '1x60' },
  { series: `webhook_events_processed_total{${WORKER_A},provider="legacy",status="dead_letter"}`, values: '_x20 1x40' },
  { series: `webhook_events_processed_total{${WORKER_A},provider="stripe",status="dead_letter"}`, values: '1x60' },
  { series: `webhook_events_processed_total{${WORKER_A},provider="paypal",status="dead_letter"}`, values: '1x30 _x15 1x14' },
  { series: `webhook_service_info{${WORKER_B},role="worker",queue="webhook-events"}`, values: '_x40 1x20' },
  { series: `webhook_events_processed_total{${WORKER_B},provider="stripe",status="dead_letter"}`, values: '_x40 1x20' },
];

/** The panel's series at each evaluation time: provider → value. */
const EXPECTED: [string, Record<string, number>][] = [
  ['19m', { stripe: 0, paypal: 0 }], // nothing new yet
  ['20m', { legacy: 1, stripe: 0, paypal: 0 }], // legacy's first dead letter, first scraped at 1
  ['23m', { legacy: 1, stripe: 0, paypal: 0 }], // still inside the rate interval
  ['25m', { legacy: 0, stripe: 0, paypal: 0 }], // its step has left the rate interval
  ['40m', { legacy: 0, stripe: 1 }], // worker b's first scrape, its stripe counter at 1; paypal unscraped
  ['43m', { legacy: 0, stripe: 1 }],
  ['45m', { legacy: 0, stripe: 0 }],
  ['50m', { legacy: 0, stripe: 0, paypal: 0 }], // paypal's samples are back since 46m: nothing new
];

describe('"Dead-letter growth" for a series that first appears above 0', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'promtool checks')) return;

  it('shows its first dead letter while it is in the rate interval, and 0 for series flat for long', () => {
    const expr = deadLetterGrowthExpr();
    const dir = mkdtempSync(path.join(tmpdir(), 'dead-letter-growth-'));
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
              promql_expr_test: EXPECTED.map(([at, byProvider]) => ({
                expr,
                eval_time: at,
                exp_samples: Object.entries(byProvider).map(([provider, value]) => ({ labels: `{provider="${provider}"}`, value })),
              })),
            },
          ],
        }),
      );
      const run = spawnSync(binaries.promtool!, ['test', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
      const output = `${run.stdout}\n${run.stderr}`;
      // promtool prints each failing evaluation with its time and the samples it got; any other failure (the
      // expression does not parse) only in its output.
      const failed = [...output.matchAll(/time: (\S+),\n\s+exp: (.*)\n\s+got: (.*)/g)].map(([, time, exp, got]) => `${time}: expected ${exp}, got ${got}`);
      const otherFailure = run.status !== 0 && failed.length === 0 ? output : '';
      expect({ status: run.status, failed, otherFailure }).toEqual({ status: 0, failed: [], otherFailure: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
