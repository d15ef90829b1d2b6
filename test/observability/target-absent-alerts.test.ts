/**
 * Every alert of files/alerts/rules.yaml reads the service's own metrics, so when every ingress pod crash-loops (a bad
 * config after an upgrade, an image that cannot start, a missing Secret) or a fresh install never starts, Prometheus
 * scrapes nothing of the release and nothing pages while webhooks are refused at the edge. The chart's PrometheusRule
 * adds, per release, alerts on the ServiceMonitor's targets (`up`): WebhookIngressAbsent, and WebhookWorkersAbsent
 * where the release always runs a worker (not with KEDA minReplicas 0, where no worker is the idle state).
 *
 * The chart is rendered (helm template), its target alerts extracted and run under `promtool test rules` with `up`
 * series labelled as the Prometheus Operator labels the rendered ServiceMonitor's targets
 * (support/service-monitor-target-labels.ts: its targetLabels, job, and the `relabelings` value): every ingress target
 * down or none at all fires, one target up or a restart shorter than `for` is silent, and the same Service name in
 * another namespace or another release's ingress does not hide this release's outage. Relabelings that rewrite `job`
 * (observed: the alerts selected job="<fullname>-ingress" and fired for ever while every pod was up) change nothing.
 * Needs Debian's `prometheus` package (promtool); skipped with a message when it is missing, unless REQUIRE_PROMETHEUS
 * is set (CI), which makes that a failure.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { chartDir, find, one, readText, releaseName, releaseNamespace, renderChart, repoRoot, runHelm, selects, valuesDir, type K8sObject } from '../chart/helm.js';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';
import { serviceMonitorTargetLabels } from './support/service-monitor-target-labels.js';

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

/** Relabelings that give the scraped pods a job of their own choosing, as many Prometheus setups do. */
const JOB_REWRITES = {
  'job from the component label': [{ sourceLabels: ['__meta_kubernetes_service_label_app_kubernetes_io_component'], targetLabel: 'job' }],
  'one job for every target': [{ targetLabel: 'job', replacement: 'webhooks' }],
};
const withRelabelings = (relabelings: unknown[]) => ['--set-json', `metrics.serviceMonitor.relabelings=${JSON.stringify(relabelings)}`];

/** A role's Service of the rendered chart, or as another release of it would name and label it. */
function serviceOf(objects: K8sObject[], role: 'ingress' | 'worker', release = releaseName): K8sObject {
  const service = one(objects, 'Service', `-${role}`);
  if (release === releaseName) return service;
  const labels = { ...service.metadata.labels, 'app.kubernetes.io/instance': release };
  return { ...service, metadata: { ...service.metadata, name: service.metadata.name.replace(`${releaseName}-`, `${release}-`), labels } };
}

/**
 * `up` of one pod of a role, labelled as the Prometheus Operator labels a target of the rendered ServiceMonitor
 * (in `namespace`, of `release`: another namespace or release scraped by a monitor like it).
 */
function up(objects: K8sObject[], role: 'ingress' | 'worker', pod: string, values: string, where: { namespace?: string; release?: string } = {}) {
  const service = serviceOf(objects, role, where.release);
  const podName = `${service.metadata.name}-${pod}`;
  const labels = serviceMonitorTargetLabels(one(objects, 'ServiceMonitor'), {
    namespace: where.namespace ?? releaseNamespace,
    service,
    pod: podName,
    container: 'event-integration-service',
    address: `${podName}:3000`,
  });
  if (!labels) throw new Error(`the ServiceMonitor drops the ${role} targets`);
  return { series: `up{${Object.entries(labels).map(([name, value]) => `${name}=${JSON.stringify(value)}`).join(',')}}`, values };
}

describe('the PrometheusRule renders alerts on the release\'s scrape targets', () => {
  const monitoring = renderChart(['monitoring.yaml']);

  it('on labels the chart\'s ServiceMonitor copies from the ingress and worker Services, not on job', () => {
    const monitor = one(monitoring, 'ServiceMonitor');
    const scraped = find(monitoring, 'Service').filter((service) => selects(monitor.spec.selector, service.metadata.labels ?? {}));
    expect(scraped.map((service) => service.metadata.name).sort()).toEqual([INGRESS_JOB, WORKER_JOB]);
    expect(monitor.spec.targetLabels).toEqual(['app.kubernetes.io/instance', 'app.kubernetes.io/component']);
    for (const service of scraped) {
      expect(service.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': releaseName, 'app.kubernetes.io/component': expect.stringMatching(/^(ingress|worker)$/) });
    }

    const rules = targetAlerts(monitoring);
    expect(rules.map((rule) => rule.alert)).toEqual(['WebhookIngressAbsent', 'WebhookWorkersAbsent']);
    const selector = (role: string) => `namespace="${releaseNamespace}", app_kubernetes_io_instance="${releaseName}", app_kubernetes_io_component="${role}"`;
    expect(alertNamed(rules, 'WebhookIngressAbsent').expr.trim()).toBe(`absent(up{${selector('ingress')}} == 1)`);
    expect(alertNamed(rules, 'WebhookWorkersAbsent').expr.trim()).toBe(`absent(up{${selector('worker')}} == 1)`);
    // The value's relabelings come after the chart's targetLabels, as the operator orders them.
    const relabelled = one(renderChart(['monitoring.yaml'], [], withRelabelings(JOB_REWRITES['one job for every target'])), 'ServiceMonitor');
    expect({ targetLabels: relabelled.spec.targetLabels, relabelings: relabelled.spec.endpoints[0].relabelings }).toEqual({
      targetLabels: monitor.spec.targetLabels,
      relabelings: JOB_REWRITES['one job for every target'],
    });
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

  it('for a role the values stop (replicaCount 0) on purpose none, and the install and upgrade NOTES say so', () => {
    const notes = (set: string[]) => {
      const args = ['install', releaseName, chartDir, '--namespace', releaseNamespace, '--dry-run=client', '-f', path.join(valuesDir, 'monitoring.yaml')];
      const run = runHelm([...args, ...set.flatMap((pair) => ['--set', pair])]);
      expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
      return run.stdout.slice(run.stdout.indexOf('NOTES:'));
    };
    const ingressNote = 'NOTE: ingress.replicaCount is 0: no ingress pod runs, so every webhook is refused before it reaches the service.\nWebhookIngressAbsent is not rendered while it is 0: no alert pages for it.';
    const workerNote = 'NOTE: worker.replicaCount is 0: webhooks are stored, but none is processed or delivered until workers run.\nWebhookWorkersAbsent is not rendered while it is 0; WebhookNoWorkers pages once work waits.';
    const stopped = notes(['ingress.replicaCount=0', 'worker.replicaCount=0']);
    expect(stopped).toContain(ingressNote);
    expect(stopped).toContain(workerNote);
    const running = notes([]);
    expect(running).not.toContain('replicaCount is 0');
    // KEDA minReplicas 0 is the workers' idle state, not a stop: no note; an ingress HPA keeps at least one pod.
    expect(notes(['autoscaling.keda.enabled=true', 'autoscaling.keda.minReplicas=0', 'worker.replicaCount=0', 'ingress.autoscaling.enabled=true', 'ingress.replicaCount=0'])).not.toContain('replicaCount is 0');
    // Without the target alerts the notes still say the role is stopped, and nothing of the alerts.
    const unmonitored = notes(['ingress.replicaCount=0', 'metrics.prometheusRule.enabled=false']);
    expect(unmonitored).toContain(ingressNote.split('\n')[0]);
    expect(unmonitored).not.toContain('WebhookIngressAbsent');
  });

  it('not without the chart\'s ServiceMonitor (another scrape config names its jobs otherwise)', () => {
    const objects = renderChart(['monitoring.yaml'], ['metrics.serviceMonitor.enabled=false']);
    expect(groupsOf(objects).map((group) => group.name)).toEqual(['event-integration-service']);
  });
});

const binaries = prometheusBinaries(['promtool']);

describe('the target alerts under promtool', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'promtool tests')) return;

  const INGRESS = 'WebhookIngressAbsent';
  const WORKERS = 'WebhookWorkersAbsent';

  /** promtool cases for a rendered chart: its target alerts, `up` labelled as its ServiceMonitor labels targets. */
  const casesFor = (objects: K8sObject[]) => {
    const rules = targetAlerts(objects);
    const firing = (name: string) => {
      const rule = alertNamed(rules, name);
      return [{ exp_labels: rule.labels, exp_annotations: rule.annotations }];
    };
    const workersUp = [up(objects, 'worker', 'w1', '1x30')];
    const ingressUp = [up(objects, 'ingress', 'a', '1x30')];
    return [
      {
        name: 'every ingress pod crash-looping: its targets are scraped and down',
        input_series: [up(objects, 'ingress', 'a', '0x30'), up(objects, 'ingress', 'b', '0x30'), ...workersUp],
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
        name: 'another release\'s ingress, and this release\'s Service name in another namespace, do not hide the outage',
        input_series: [up(objects, 'ingress', 'a', '1x30', { release: 'other' }), up(objects, 'ingress', 'a', '1x30', { namespace: 'staging' }), ...workersUp],
        alert_rule_test: [{ eval_time: '10m', alertname: INGRESS, exp_alerts: firing(INGRESS) }],
      },
      {
        name: 'one ingress pod of two up: the release still takes webhooks',
        input_series: [up(objects, 'ingress', 'a', '1x30'), up(objects, 'ingress', 'b', '0x30'), ...workersUp],
        alert_rule_test: [
          { eval_time: '10m', alertname: INGRESS, exp_alerts: [] },
          { eval_time: '20m', alertname: INGRESS, exp_alerts: [] },
        ],
      },
      {
        name: 'every ingress pod restarted for 4 minutes (helm upgrade --force): shorter than `for`',
        input_series: [up(objects, 'ingress', 'a', '1x5 0x4 1x20'), up(objects, 'ingress', 'b', '1x5 0x4 1x20'), ...workersUp],
        alert_rule_test: [
          { eval_time: '9m', alertname: INGRESS, exp_alerts: [] },
          { eval_time: '11m', alertname: INGRESS, exp_alerts: [] },
        ],
      },
      {
        name: 'every worker crash-looping while the ingress runs',
        input_series: [up(objects, 'worker', 'w1', '0x30'), ...ingressUp],
        alert_rule_test: [
          { eval_time: '9m', alertname: WORKERS, exp_alerts: [] },
          { eval_time: '10m', alertname: WORKERS, exp_alerts: firing(WORKERS) },
          { eval_time: '10m', alertname: INGRESS, exp_alerts: [] },
        ],
      },
      {
        name: 'no worker target at all, and only another release\'s workers up',
        input_series: [up(objects, 'worker', 'w1', '1x30', { release: 'other' }), ...ingressUp],
        alert_rule_test: [{ eval_time: '15m', alertname: WORKERS, exp_alerts: firing(WORKERS) }],
      },
      {
        name: 'a worker up',
        input_series: [up(objects, 'worker', 'w1', '1x30'), up(objects, 'worker', 'w2', '0x30'), ...ingressUp],
        alert_rule_test: [{ eval_time: '20m', alertname: WORKERS, exp_alerts: [] }],
      },
    ];
  };

  /** Runs the rendered chart's target alerts on its cases; promtool's verdict and output. */
  const promtoolRun = (objects: K8sObject[]) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'target-absent-alerts-'));
    try {
      const rulesFile = path.join(dir, 'rules.yaml');
      writeFileSync(rulesFile, stringify({ groups: [{ name: TARGETS_GROUP, rules: targetAlerts(objects) }] }));
      const testsFile = path.join(dir, 'tests.yaml');
      // Built here, so that a missing alert fails this run rather than the whole file.
      writeFileSync(testsFile, stringify({ rule_files: [rulesFile], evaluation_interval: '1m', tests: casesFor(objects).map((test) => ({ interval: '1m', ...test })) }));
      const check = spawnSync(binaries.promtool!, ['check', 'rules', rulesFile], { encoding: 'utf8', timeout: 60_000 });
      expect({ status: check.status, output: `${check.stdout}\n${check.stderr}` }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
      const run = spawnSync(binaries.promtool!, ['test', 'rules', testsFile], { encoding: 'utf8', timeout: 60_000 });
      return { status: run.status, output: `${run.stdout}\n${run.stderr}` };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('fire when every target of a role is down or gone, and stay silent while one is up', () => {
    const run = promtoolRun(renderChart(['monitoring.yaml'], ['metrics.prometheusRule.runbookBaseUrl=']));
    expect(run).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it.each(Object.entries(JOB_REWRITES))('the same whatever metrics.serviceMonitor.relabelings make of job (%s)', (_, relabelings) => {
    const objects = renderChart(['monitoring.yaml'], ['metrics.prometheusRule.runbookBaseUrl='], withRelabelings(relabelings));
    // The rewrite does reach the targets (else this proves nothing).
    expect(up(objects, 'ingress', 'a', '1').series).not.toContain(`job="${INGRESS_JOB}"`);
    expect(promtoolRun(objects)).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });
});
