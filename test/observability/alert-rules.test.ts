/**
 * Unit tests of the alert rules with promtool (test/observability/promtool/alert-rules.yaml): every alert has cases
 * where it must fire and cases where it must stay silent, including a provider's first dead letter on a new pod
 * and a namespace whose other apps' job names contain "worker". Needs Debian's `prometheus` package (promtool);
 * skipped with a message when it is missing, unless REQUIRE_PROMETHEUS is set (CI), which makes that a failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RULES_FILE = path.join(root, 'charts/event-integration-service/files/alerts/rules.yaml');
const TESTS_FILE = path.join(root, 'test/observability/promtool/alert-rules.yaml');

const binaries = prometheusBinaries(['promtool']);

interface PromtoolTests {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; eval_time: string; exp_alerts?: unknown[] }[] }[];
}

function promtool(args: string[]) {
  const run = spawnSync(binaries.promtool!, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, output: `${run.stdout}\n${run.stderr}` };
}

describe('the comments of the rule file', () => {
  it('point at files that exist (its unit tests among them)', () => {
    const comments = readFileSync(RULES_FILE, 'utf8').split('\n').filter((line) => line.trimStart().startsWith('#'));
    const paths = [...new Set(comments.flatMap((line) => [...line.matchAll(/\b((?:test|docs|observability|charts)\/[\w./-]*\w)/g)].map((m) => m[1]!)))];
    expect(paths).toContain(path.relative(root, TESTS_FILE));
    expect(paths.filter((file) => !existsSync(path.join(root, file)))).toEqual([]);
  });
});

describe('alert rules under promtool', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'promtool tests')) return;

  it('loads as a valid rule file (promtool check rules)', () => {
    const run = promtool(['check', 'rules', RULES_FILE]);
    expect({ status: run.status, output: run.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('passes every unit test (promtool test rules)', () => {
    const run = promtool(['test', 'rules', TESTS_FILE]);
    expect({ status: run.status, output: run.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('tests every alert of the rule file, both firing and silent', () => {
    const tests = parse(readFileSync(TESTS_FILE, 'utf8')) as PromtoolTests;
    expect(tests.rule_files.map((file) => path.resolve(path.dirname(TESTS_FILE), file))).toEqual([RULES_FILE]);
    const rules = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: { alert?: string }[] }[] };
    const alerts = rules.groups.flatMap((group) => group.rules.flatMap((rule) => (rule.alert ? [rule.alert] : [])));
    const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);
    const coverage = alerts.map((alert) => ({
      alert,
      fires: cases.some((c) => c.alertname === alert && (c.exp_alerts?.length ?? 0) > 0),
      silent: cases.some((c) => c.alertname === alert && (c.exp_alerts?.length ?? 0) === 0),
    }));
    expect(coverage).toEqual(alerts.map((alert) => ({ alert, fires: true, silent: true })));
  });
});
