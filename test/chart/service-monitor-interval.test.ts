import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { parse as parseYaml, stringify } from 'yaml';
import { skipOrFailWithoutPrometheus } from '../observability/support/missing-prometheus.js';
import { prometheusBinaries } from '../observability/support/prometheus-binaries.js';
import { chartDir, one, parseManifests, runHelm, templateArgs } from './helm.js';

/**
 * The alert rules (files/alerts/rules.yaml) take rate() and increase() over windows of 5m and more. Each needs two
 * samples of a series inside its window, or it returns nothing: with a metrics.serviceMonitor.interval of 3m many
 * 5m windows hold a single sample, the expression is empty at those evaluations, and an alert with a `for:` never
 * stays pending long enough to fire (WebhookEnqueueFailing, played below through promtool, stays silent through 30
 * minutes of failures). At 2m a 5m window holds two samples even when a scrape lands up to a minute late (at 2m30s it
 * holds exactly two, and any late scrape leaves one), so the chart refuses an interval over 2m.
 */

const RULES_FILE = path.join(chartDir, 'files/alerts/rules.yaml');
const BOUND_MS = 120_000;
const dir = mkdtempSync(path.join(tmpdir(), 'chart-sm-interval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
function durationMs(text: string): number {
  let total = 0;
  for (const [, digits, unit] of text.matchAll(/([0-9]+)(ms|y|w|d|h|m|s)/g)) total += Number(digits) * UNIT_MS[unit!]!;
  return total;
}

function render(interval: string, extra: string[] = []) {
  return runHelm(templateArgs([], ['metrics.serviceMonitor.enabled=true', `metrics.serviceMonitor.interval=${interval}`, ...extra]));
}

describe('metrics.serviceMonitor.interval against the alert rules windows', () => {
  it('leaves every rate() / increase() window of the rules two samples and half an interval to spare at the bound', () => {
    const rules = readFileSync(RULES_FILE, 'utf8');
    const windows = [...rules.matchAll(/\b(?:rate|increase)\([^[]*\[([0-9a-z]+)\]/g)].map(([, window]) => durationMs(window!));
    expect(windows.length).toBeGreaterThan(10);
    // 5m: the shortest window the message names.
    expect(Math.min(...windows)).toBe(300_000);
    expect(Math.min(...windows)).toBeGreaterThanOrEqual(2.5 * BOUND_MS);
  });

  it.each(['30s', '1m', '90s', '1m59s', '2m', '120s', '119999ms'])('renders interval %s (at most 2m)', (interval) => {
    const run = render(interval, ['metrics.serviceMonitor.scrapeTimeout=10s']);
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    expect(one(parseManifests(run.stdout), 'ServiceMonitor').spec.endpoints[0].interval).toBe(interval);
  });

  it.each(['2m1s', '121s', '120001ms', '2m30s', '3m', '5m', '1h'])('refuses interval %s in one line naming it, the bound and why', (interval) => {
    const run = render(interval, ['metrics.serviceMonitor.scrapeTimeout=10s']);
    expect(run.status).not.toBe(0);
    const errorLines = run.stderr.split('\n').filter((line) => line.startsWith('Error:'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toContain(`metrics.serviceMonitor.interval=${interval}`);
    expect(errorLines[0]).toMatch(/\b2m\b/);
    expect(errorLines[0]).toMatch(/rate\(\).*5m/);
  });

  it('is not checked while the ServiceMonitor is off, nor for "0" (the Prometheus global interval, which the chart cannot see)', () => {
    expect(runHelm(templateArgs([], ['metrics.serviceMonitor.interval=5m'])).status).toBe(0);
    expect(runHelm(templateArgs([], ['metrics.serviceMonitor.enabled=true'], ['--set-string', 'metrics.serviceMonitor.interval=0'])).status).toBe(0);
  });

  describe('why: WebhookEnqueueFailing (rate over 5m, for 10m) under promtool, the counter growing throughout', () => {
    const binaries = prometheusBinaries(['promtool']);
    if (skipOrFailWithoutPrometheus(binaries, 'promtool demonstration')) return;

    /** promtool's verdict on "the alert fires at 30m" with the counter scraped every `everySteps` × 30 s (30 s late). */
    function firesAt30m(everySteps: number): { status: number; output: string } {
      const groups = (parseYaml(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: { alert?: string; expr: string; for?: string }[] }[] }).groups;
      const rule = groups.flatMap((group) => group.rules).find((r) => r.alert === 'WebhookEnqueueFailing')!;
      // The rule's own expression and `for`, without the annotations (the test expects labels only).
      writeFileSync(path.join(dir, 'rules.yaml'), stringify({ groups: [{ name: 'interval', rules: [{ alert: rule.alert, expr: rule.expr, for: rule.for }] }] }));
      const values = Array.from({ length: 64 }, (_, step) => (step % everySteps === 1 ? String(10 * (Math.floor(step / everySteps) + 1)) : '_')).join(' ');
      const tests = {
        rule_files: ['rules.yaml'],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '30s',
            input_series: [{ series: 'webhook_enqueue_failures_total{namespace="webhooks",app_kubernetes_io_instance="eis",pod="eis-ingress-a"}', values }],
            alert_rule_test: [{ eval_time: '30m', alertname: 'WebhookEnqueueFailing', exp_alerts: [{ exp_labels: { namespace: 'webhooks', app_kubernetes_io_instance: 'eis' } }] }],
          },
        ],
      };
      const file = path.join(dir, `every-${everySteps}.yaml`);
      writeFileSync(file, stringify(tests));
      const run = spawnSync(binaries.promtool!, ['test', 'rules', file], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
    }

    it('fires with the counter scraped every 2m (the largest interval the chart renders)', () => {
      const run = firesAt30m(4);
      expect({ status: run.status, output: run.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    });

    it('never fires with it scraped every 3m: a 5m window often holds one sample, and rate() is then empty', () => {
      const run = firesAt30m(6);
      expect(run.status).not.toBe(0);
      expect(run.output).toContain('WebhookEnqueueFailing');
    });
  });
});
