import { describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { runHelm, templateArgs } from './helm.js';

/**
 * ingress.autoscaling.targetMemoryUtilizationPercentage is optional: empty (the default) or 0 means no memory metric.
 * The template tested the value with `with`, which is false for the number 0 but true for the string "0" (what `--set
 * ...=\"0\"`, --set-string or a quoted YAML value give): the HPA then got a memory target of averageUtilization 0,
 * which the API server refuses ("must be greater than 0"), so the install failed at apply time, and `helm template`
 * (GitOps) rendered it without a word. The value was also printed as written: "010" became `averageUtilization: 010`,
 * which Kubernetes' YAML reader (YAML 1.1, as sigs.k8s.io/yaml) takes as octal, a target of 8%.
 */

function hpaMetrics(extra: string[]): { name: string; averageUtilization: number }[] {
  const run = runHelm(templateArgs([], ['ingress.autoscaling.enabled=true'], extra));
  if (run.status !== 0) throw new Error(run.stderr);
  // Read as the API server's client reads manifests: YAML 1.1, where a leading 0 makes an octal number.
  const objects = parseAllDocuments(run.stdout, { version: '1.1' }).map((document) => document.toJS());
  const hpa = objects.find((o) => o?.kind === 'HorizontalPodAutoscaler');
  return hpa.spec.metrics.map((metric: any) => ({ name: metric.resource.name, averageUtilization: metric.resource.target.averageUtilization }));
}

describe('the ingress HPA memory target', () => {
  it.each([
    ['unset (the default)', []],
    ['the number 0', ['--set', 'ingress.autoscaling.targetMemoryUtilizationPercentage=0']],
    ['the string "0"', ['--set-string', 'ingress.autoscaling.targetMemoryUtilizationPercentage=0']],
    ['the string "00"', ['--set-string', 'ingress.autoscaling.targetMemoryUtilizationPercentage=00']],
  ])('%s: no memory metric, never a 0%% target', (_name, extra) => {
    expect(hpaMetrics(extra as string[])).toEqual([{ name: 'cpu', averageUtilization: 70 }]);
  });

  it.each([
    ['the number 80', ['--set', 'ingress.autoscaling.targetMemoryUtilizationPercentage=80'], 80],
    ['the string "80"', ['--set-string', 'ingress.autoscaling.targetMemoryUtilizationPercentage=80'], 80],
    ['the string "010", in decimal as written', ['--set-string', 'ingress.autoscaling.targetMemoryUtilizationPercentage=010'], 10],
  ])('%s: a memory target of that many percent', (_name, extra, percent) => {
    expect(hpaMetrics(extra as string[])).toEqual([
      { name: 'cpu', averageUtilization: 70 },
      { name: 'memory', averageUtilization: percent },
    ]);
  });
});
