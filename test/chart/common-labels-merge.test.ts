import { describe, expect, it } from '@jest/globals';
import { podTemplateOf, renderChart, runHelm, templateArgs, valueSets, type K8sObject } from './helm.js';

/**
 * `commonLabels` are written into every object's labels next to the chart's own. A key the chart sets too
 * (`app.kubernetes.io/part-of`, `app.kubernetes.io/version`) was written twice (a duplicate YAML key: refused by strict
 * parsers, one of the two kept silently by others), and a selector label would have changed the workloads' immutable
 * selectors. Now the labels are one map: a commonLabels value replaces the chart's for an informational label, a
 * selector label (`app.kubernetes.io/{name,instance,component}`) is refused at render, naming `commonLabels`, and an
 * object's own labels (`metrics.serviceMonitor.labels`, `<role>.podLabels`) replace a commonLabels value.
 * Every value set of test/chart/values is rendered, so the optional objects (monitoring, KEDA, hooks) are covered;
 * parseManifests parses with unique keys enforced, so a duplicate label fails the render's parse.
 */

const json = (pairs: Record<string, unknown>) => Object.entries(pairs).flatMap(([key, value]) => ['--set-json', `${key}=${JSON.stringify(value)}`]);

/** Every label map of an object a commonLabels key belongs in: its own, and its pod template's. */
const labelMapsOf = (object: K8sObject): Array<[string, Record<string, unknown>]> => {
  const name = `${object.kind} ${object.metadata.name}`;
  const maps: Array<[string, Record<string, unknown>]> = [[name, object.metadata.labels ?? {}]];
  const template = podTemplateOf(object);
  if (template && template !== object) maps.push([`${name} pod template`, template.metadata?.labels ?? {}]);
  return maps;
};

describe('commonLabels and the chart\'s own labels', () => {
  it.each(valueSets())('a commonLabels key the chart sets too is written once, with the commonLabels value, on every object (%s)', (set) => {
    const common = { 'app.kubernetes.io/part-of': 'billing', 'app.kubernetes.io/version': '2024.1' };
    const objects = renderChart([set], [], json({ commonLabels: common }));
    expect(objects.length).toBeGreaterThan(0);
    for (const object of objects) {
      for (const [where, labels] of labelMapsOf(object)) expect([where, labels]).toEqual([where, expect.objectContaining(common)]);
    }
  });

  it.each(valueSets())('a custom commonLabels key lands on every object, as a string, and on no selector (%s)', (set) => {
    const objects = renderChart([set], [], json({ commonLabels: { team: 'payments', 'cost-center': 1234 } }));
    for (const object of objects) {
      for (const [where, labels] of labelMapsOf(object)) {
        expect([where, labels]).toEqual([where, expect.objectContaining({ team: 'payments', 'cost-center': '1234' })]);
      }
      const selector = object.spec?.selector?.matchLabels ?? (object.kind === 'Service' ? object.spec?.selector : undefined) ?? {};
      expect([object.kind, object.metadata.name, selector]).toEqual([object.kind, object.metadata.name, expect.not.objectContaining({ team: 'payments' })]);
    }
  });

  it('a commonLabels key repeated in an object\'s own labels takes the object\'s value, once', () => {
    const objects = renderChart(['monitoring.yaml'], [], json({ commonLabels: { release: 'other', team: 'platform' } }));
    for (const kind of ['ServiceMonitor', 'PrometheusRule']) {
      const object = objects.find((o) => o.kind === kind)!;
      expect(object.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack', team: 'platform' });
    }
  });

  it.each(['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component'])(
    'commonLabels naming the selector label %s fails the render, naming commonLabels and the label',
    (label) => {
      const run = runHelm(templateArgs([], [], json({ commonLabels: { [label]: 'other' } })));
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain(`commonLabels: "${label}"`);
    },
  );

  it('an object\'s own labels naming a selector label fail the render, naming their values key', () => {
    const run = runHelm(templateArgs(['monitoring.yaml'], [], json({ 'metrics.serviceMonitor.labels': { 'app.kubernetes.io/name': 'other' } })));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('metrics.serviceMonitor.labels: "app.kubernetes.io/name"');
  });
});
