/**
 * Every alert of files/alerts/rules.yaml reads the service's own metrics, so when every ingress pod crash-loops (a bad
 * config after an upgrade, an image that cannot start, a missing Secret) or a fresh install never starts, Prometheus
 * scrapes nothing of the release and nothing pages while webhooks are refused at the edge. The chart's PrometheusRule
 * adds, per release, alerts on the ServiceMonitor's targets (`up`): WebhookIngressAbsent, and WebhookWorkersAbsent
 * where the release always runs a worker (not with KEDA minReplicas 0, where no worker is the idle state).
 *
 * The chart is rendered (helm template), its target alerts extracted and run under `promtool test rules` with series
 * as the Prometheus Operator labels ServiceMonitor targets (namespace, job = the scraped Service's name, instance):
 * every ingress target down or none at all fires, one target up or a restart shorter than `for` is silent, and a job
 * of the same name in another namespace or another release's ingress does not hide this release's outage.
 * Needs Debian's `prometheus` package (promtool); skipped with a message when it is missing, unless REQUIRE_PROMETHEUS
 * is set (CI), which makes that a failure.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { find, one, readText, releaseNamespace, renderChart, repoRoot, selects, type K8sObject } from '../chart/helm.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';

const TARGETS_GROUP = 'event-integration-service-targets';
const FULLNAME = 'eis-event-integration-service';
const INGRESS_JOB = `${FULLNAME}-ingress`;
const WORKER_JOB = `${FULLNAME}-worker`;

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Group {
  name: string;
  rules: Rule[];
}

const groupsOf = (objects: K8sObject[]): Group[] => one(objects, 'PrometheusRule').spec.groups as Group[];
const targetAlerts = (objects: K8sObject[]): Rule[] => groupsOf(objects).find((group) => group.name === TARGETS_GROUP)?.rules ?? [];
const alertNamed = (rules: Rule[], name: string): Rule => {
  const rule = rules.find((r) => r.alert === name);
  if (!rule) throw new Error(`no ${name} in the rendered PrometheusRule (alerts: ${rules.map((r) => r.alert).join(', ') || 'none'})`);
  return rule;
};

/** A target's `up` as the Prometheus Operator labels it (the job is the scraped Service's name). */
const up = (namespace: string, job: string, pod: string, values: string) => ({
  series: `up{namespace="${namespace}",job="${job}",service="${job}",endpoint="http",instance="${job}-${pod}:3000",pod="${job}-${pod}",container="${job.split('-').at(-1)}"}`,
  values,
});

describe('the PrometheusRule renders alerts on the release\'s scrape targets', () => {
  const monitoring = renderChart(['monitoring.yaml']);

  it('for the jobs the ServiceMonitor produces: the ingress and worker Service names, in the release namespace', () => {
    const monitor = one(monitoring, 'ServiceMonitor');
    // Without jobLabel the Prometheus Operator sets job to the Service's name; relabelings (none here) could change it.
    expect({ jobLabel: monitor.spec.jobLabel, relabelings: monitor.spec.endpoints[0].relabelings }).toEqual({ jobLabel: undefined, relabelings: undefined });
    const scraped = find(monitoring, 'Service').filter((service) => selects(monitor.spec.selector, service.metadata.labels ?? {}));
    expect(scraped.map((service) => service.metadata.name).sort()).toEqual([INGRESS_JOB, WORKER_JOB]);

    const rules = targetAlerts(monitoring);
    expect(rules.map((rule) => rule.alert)).toEqual(['WebhookIngressAbsent', 'WebhookWorkersAbsent']);
    expect(alertNamed(rules, 'WebhookIngressAbsent').expr.trim()).toBe(`absent(up{namespace="${releaseNamespace}", job="${INGRESS_JOB}"} == 1)`);
    expect(alertNamed(rules, 'WebhookWorkersAbsent').expr.trim()).toBe(`absent(up{namespace="${releaseNamespace}", job="${WORKER_JOB}"} == 1)`);
  });

  it('each with a severity, a runbook section in docs/runbooks.md and the runbookBaseUrl', () => {
    const runbooks = readText(path.join(repoRoot, 'docs/runbooks.md'));
    const headings = new Set([...runbooks.matchAll(/^## (\S+)$/gm)].map((match) => match[1]!.toLowerCase()));
    for (const rule of targetAlerts(monitoring)) {
      const anchor = rule.alert!.toLowerCase();
      expect({ alert: rule.alert, runbook: headings.has(anchor) }).toEqual({ alert: rule.alert, runbook: true });
      expect(rule.annotations?.runbook_url).toBe(`https://docs.example.com/webhooks/runbooks.md#${anchor}`);
      expect(rule.labels).toMatchObject({ severity: expect.stringMatching(/^(warning|critical)$/), namespace: releaseNamespace });
    }
    const relative = targetAlerts(renderChart(['monitoring.yaml'], ['metrics.prometheusRule.runbookBaseUrl=']));
    expect(relative.map((rule) => rule.annotations?.runbook_url)).toEqual(['docs/runbooks.md#webhookingressabsent', 'docs/runbooks.md#webhookworkersabsent']);
  });

  it('leaves the rule file\'s groups as they are', () => {
    expect(groupsOf(monitoring).filter((group) => group.name !== TARGETS_GROUP).map((group) => group.name)).toEqual(['event-integration-service']);
  });

  it('not for workers that KEDA may scale to zero (but for those it keeps one of), nor for a role scaled to 0', () => {
    const keda = (minReplicas: number) =>
      targetAlerts(renderChart(['monitoring.yaml', 'keda-prometheus.yaml'], [`autoscaling.keda.minReplicas=${minReplicas}`])).map((rule) => rule.alert);
    expect(keda(0)).toEqual(['WebhookIngressAbsent']);
    expect(keda(1)).toEqual(['WebhookIngressAbsent', 'WebhookWorkersAbsent']);
    expect(targetAlerts(renderChart(['monitoring.yaml'], ['worker.replicaCount=0'])).map((rule) => rule.alert)).toEqual(['WebhookIngressAbsent']);
    expect(targetAlerts(renderChart(['monitoring.yaml'], ['ingress.replicaCount=0'])).map((rule) => rule.alert)).toEqual(['WebhookWorkersAbsent']);
  });

  it('not without the chart\'s ServiceMonitor (another scrape config names its jobs otherwise)', () => {
    const objects = renderChart(['monitoring.yaml'], ['metrics.serviceMonitor.enabled=false']);
    expect(groupsOf(objects).map((group) => group.name)).toEqual(['event-integration-service']);
  });
});

const binaries = prometheusBinaries(['promtool']);

describe('the target alerts under promtool', () => {
  if (binaries.missing) {
    if (binaries.required) {
      it('has promtool (REQUIRE_PROMETHEUS is set)', () => {
        throw new Error(binaries.missing);
      });
    } else {
      // eslint-disable-next-line no-console
      console.warn(`target-absent-alerts.test.ts skipped: ${binaries.missing}. Set REQUIRE_PROMETHEUS=1 to make this a failure.`);
      it.skip(`promtool tests (skipped: ${binaries.missing})`, () => undefined);
    }
    return;
  }

  const rules = targetAlerts(renderChart(['monitoring.yaml'], ['metrics.prometheusRule.runbookBaseUrl=']));
  const firing = (name: string) => {
    const rule = alertNamed(rules, name);
    return [{ exp_labels: rule.labels, exp_annotations: rule.annotations }];
  };
  const INGRESS = 'WebhookIngressAbsent';
  const WORKERS = 'WebhookWorkersAbsent';
  const workersUp = [up(releaseNamespace, WORKER_JOB, 'w1', '1x30')];
  const ingressUp = [up(releaseNamespace, INGRESS_JOB, 'a', '1x30')];

  // Built in the test, so that a missing alert fails it rather than the whole file.
  const cases = () => [
    {
      name: 'every ingress pod crash-looping: its targets are scraped and down',
      input_series: [up(releaseNamespace, INGRESS_JOB, 'a', '0x30'), up(releaseNamespace, INGRESS_JOB, 'b', '0x30'), ...workersUp],
      alert_rule_test: [
        { eval_time: '4m', alertname: INGRESS, exp_alerts: [] },
        { eval_time: '5m', alertname: INGRESS, exp_alerts: firing(INGRESS) },
        { eval_time: '20m', alertname: WORKERS, exp_alerts: [] },
      ],
    },
    {
      name: 'no ingress target at all (pods Pending, or a fresh install that never started one)',
      input_series: workersUp,
      alert_rule_test: [
        { eval_time: '4m', alertname: INGRESS, exp_alerts: [] },
        { eval_time: '5m', alertname: INGRESS, exp_alerts: firing(INGRESS) },
      ],
    },
    {
      name: 'another release\'s ingress, and this job name in another namespace, do not hide the outage',
      input_series: [
        up(releaseNamespace, 'other-event-integration-service-ingress', 'a', '1x30'),
        up('staging', INGRESS_JOB, 'a', '1x30'),
        ...workersUp,
      ],
      alert_rule_test: [{ eval_time: '10m', alertname: INGRESS, exp_alerts: firing(INGRESS) }],
    },
    {
      name: 'one ingress pod of two up: the release still takes webhooks',
      input_series: [up(releaseNamespace, INGRESS_JOB, 'a', '1x30'), up(releaseNamespace, INGRESS_JOB, 'b', '0x30'), ...workersUp],
      alert_rule_test: [
        { eval_time: '10m', alertname: INGRESS, exp_alerts: [] },
        { eval_time: '20m', alertname: INGRESS, exp_alerts: [] },
      ],
    },
    {
      name: 'every ingress pod restarted for 4 minutes (helm upgrade --force): shorter than `for`',
      input_series: [up(releaseNamespace, INGRESS_JOB, 'a', '1x5 0x4 1x20'), up(releaseNamespace, INGRESS_JOB, 'b', '1x5 0x4 1x20'), ...workersUp],
      alert_rule_test: [
        { eval_time: '9m', alertname: INGRESS, exp_alerts: [] },
        { eval_time: '11m', alertname: INGRESS, exp_alerts: [] },
      ],
    },
    {
      name: 'every worker crash-looping while the ingress runs',
      input_series: [up(releaseNamespace, WORKER_JOB, 'w1', '0x30'), ...ingressUp],
      alert_rule_test: [
        { eval_time: '9m', alertname: WORKERS, exp_alerts: [] },
        { eval_time: '10m', alertname: WORKERS, exp_alerts: firing(WORKERS) },
        { eval_time: '10m', alertname: INGRESS, exp_alerts: [] },
      ],
    },
    {
      name: 'no worker target at all, and only another release\'s workers up',
      input_series: [up(releaseNamespace, 'other-event-integration-service-worker', 'w1', '1x30'), ...ingressUp],
      alert_rule_test: [{ eval_time: '15m', alertname: WORKERS, exp_alerts: firing(WORKERS) }],
    },
    {
      name: 'a worker up',
      input_series: [up(releaseNamespace, WORKER_JOB, 'w1', '1x30'), up(releaseNamespace, WORKER_JOB, 'w2', '0x30'), ...ingressUp],
      alert_rule_test: [{ eval_time: '20m', alertname: WORKERS, exp_alerts: [] }],
    },
  ];

  it('fire when every target of a role is down or gone, and stay silent while one is up', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'target-absent-alerts-'));
    try {
      const rulesFile = path.join(dir, 'rules.yaml');
      writeFileSync(rulesFile, stringify({ groups: [{ name: TARGETS_GROUP, rules }] }));
      const testsFile = path.join(dir, 'tests.yaml');
      writeFileSync(testsFile, stringify({ rule_files: [rulesFile], evaluation_interval: '1m', tests: cases().map((test) => ({ interval: '1m', ...test })) }));
      const check = spawnSync(binaries.promtool!, ['check', 'rules', rulesFile], { encoding: 'utf8', timeout: 60_000 });
      expect({ status: check.status, output: `${check.stdout}\n${check.stderr}` }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
      const run = spawnSync(binaries.promtool!, ['test', 'rules', testsFile], { encoding: 'utf8', timeout: 60_000 });
      expect({ status: run.status, output: `${run.stdout}\n${run.stderr}` }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
