import { describe, expect, it } from '@jest/globals';
import { one, podTemplateOf, renderChart, runHelm, templateArgs, type K8sObject } from './helm.js';

/**
 * `ingress.podLabels`, `worker.podLabels` and `migrations.podLabels` are written into the pod template's labels next to
 * the chart's own. A key the chart sets too was written twice (a duplicate YAML key: refused by strict parsers, one of
 * the two kept silently by others), and one of the selector labels would detach the pods from their Deployment's
 * selector. Now the labels are one map: a podLabels value replaces the chart's for an informational label
 * (`app.kubernetes.io/part-of`, `commonLabels`), and a selector label (`app.kubernetes.io/{name,instance,component}`)
 * is refused at render, naming the values key.
 */

const json = (pairs: Record<string, unknown>) => Object.entries(pairs).flatMap(([key, value]) => ['--set-json', `${key}=${JSON.stringify(value)}`]);
const labelsOf = (object: K8sObject) => podTemplateOf(object).metadata.labels as Record<string, string>;

describe('podLabels and the chart\'s own pod labels', () => {
  it('a podLabels key the chart sets too replaces it once, in every role (no duplicate key), and other keys are added', () => {
    const labels = { 'app.kubernetes.io/part-of': 'billing', team: 'payments' };
    const objects = renderChart([], [], json({ 'ingress.podLabels': labels, 'worker.podLabels': labels, 'migrations.podLabels': labels }));
    for (const [kind, suffix, component] of [['Deployment', '-ingress', 'ingress'], ['Deployment', '-worker', 'worker'], ['Job', '-migrate', 'migrations']] as const) {
      expect(labelsOf(one(objects, kind, suffix))).toMatchObject({ ...labels, 'app.kubernetes.io/component': component, 'app.kubernetes.io/instance': 'eis' });
    }
  });

  it('a commonLabels key repeated in podLabels takes the podLabels value', () => {
    const objects = renderChart([], [], json({ commonLabels: { team: 'platform' }, 'worker.podLabels': { team: 'payments' } }));
    expect(labelsOf(one(objects, 'Deployment', '-worker')).team).toBe('payments');
    expect(labelsOf(one(objects, 'Deployment', '-ingress')).team).toBe('platform');
  });

  it.each([
    ['ingress.podLabels', 'app.kubernetes.io/component'],
    ['worker.podLabels', 'app.kubernetes.io/instance'],
    ['migrations.podLabels', 'app.kubernetes.io/name'],
  ])('%s naming the selector label %s fails the render, naming both', (key, label) => {
    const run = runHelm(templateArgs([], [], json({ [key]: { [label]: 'other' } })));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(`${key}: "${label}"`);
  });
});
