import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { podTemplateOf, renderChart, runHelm, templateArgs, type K8sObject } from './helm.js';

/**
 * A label value given as a number in values (`cost-center: 12345678` in a values file, `--set commonLabels.build=1234567890`)
 * reaches the chart as a float64 (Helm reads YAML numbers through JSON; --set's int64 became one in the label map's
 * JSON round trip) and was written as `1.2345678e+07`: not the digits the user meant, and not even a valid label value
 * (`+`). Integers are now written as their digits, other numbers and booleans as Helm prints them, strings as given; a
 * value Kubernetes would refuse (over 63 characters, outside [A-Za-z0-9._-], not starting and ending alphanumeric) and
 * an integer a values file cannot carry exactly (beyond 2^53) fail the render naming the values key and the label; a
 * null value leaves the label out (Helm's null: unset).
 */

const scratch = mkdtempSync(path.join(tmpdir(), 'eis-label-values-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let files = 0;
/** A values file holding `text`, for values as a user's -f file gives them (YAML numbers, not --set's typed ones). */
const valuesFile = (text: string): string => {
  const file = path.join(scratch, `values-${files++}.yaml`);
  writeFileSync(file, text);
  return file;
};

/** Every label map of every object: its own, and its pod template's. */
const labelMaps = (objects: K8sObject[]): Array<[string, Record<string, unknown>]> => objects.flatMap((object) => {
  const name = `${object.kind} ${object.metadata.name}`;
  const maps: Array<[string, Record<string, unknown>]> = [[name, object.metadata.labels ?? {}]];
  const template = podTemplateOf(object);
  if (template && template !== object) maps.push([`${name} pod template`, template.metadata?.labels ?? {}]);
  return maps;
});

const expectEverywhere = (objects: K8sObject[], expected: Record<string, string>) => {
  expect(objects.length).toBeGreaterThan(0);
  for (const [where, labels] of labelMaps(objects)) expect([where, labels]).toEqual([where, expect.objectContaining(expected)]);
};

describe('label values given as numbers', () => {
  it('integers in a values file are written as their digits on every object; fractions, booleans and strings as written', () => {
    const file = valuesFile([
      'commonLabels:',
      '  cost-center: 12345678',
      '  small: 1234',
      '  zero: 0',
      '  largest-exact: 9007199254740991',
      '  ratio: 1.5',
      '  flag: true',
      '  team: payments',
      '  quoted: "0012"',
      '',
    ].join('\n'));
    const objects = renderChart(['monitoring.yaml', 'keda-redis.yaml', file]);
    expectEverywhere(objects, {
      'cost-center': '12345678', small: '1234', zero: '0', 'largest-exact': '9007199254740991',
      ratio: '1.5', flag: 'true', team: 'payments', quoted: '0012',
    });
  });

  it('integers given with --set and --set-json are written as their digits on every object', () => {
    const objects = renderChart(['monitoring.yaml'], ['commonLabels.build=1234567890', 'commonLabels.long=12345678901234567'], [
      '--set-json', 'commonLabels.json=98765432',
    ]);
    expectEverywhere(objects, { build: '1234567890', long: '12345678901234567', json: '98765432' });
  });

  it('an object\'s own labels given as numbers are written as their digits too', () => {
    const file = valuesFile([
      'worker:',
      '  podLabels:',
      '    shard: 20250101',
      'metrics:',
      '  serviceMonitor:',
      '    labels:',
      '      scrape-group: 40000000',
      '',
    ].join('\n'));
    const objects = renderChart(['monitoring.yaml', file]);
    const worker = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-worker'))!;
    expect(worker.spec.template.metadata.labels).toMatchObject({ shard: '20250101' });
    expect(objects.find((o) => o.kind === 'ServiceMonitor')!.metadata.labels).toMatchObject({ 'scrape-group': '40000000' });
  });

  it('a null value leaves the label out', () => {
    const objects = renderChart([valuesFile('commonLabels:\n  team: payments\n  gone: null\n')]);
    for (const [where, labels] of labelMaps(objects)) {
      expect([where, labels]).toEqual([where, expect.objectContaining({ team: 'payments' })]);
      expect([where, Object.keys(labels)]).toEqual([where, expect.not.arrayContaining(['gone'])]);
    }
  });

  it('an integer beyond 2^53 in a values file fails the render, naming the key and the label: its digits are already rounded', () => {
    const run = runHelm(templateArgs([valuesFile('commonLabels:\n  account: 12345678901234567890\n')]));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('commonLabels: "account"');
    expect(run.stderr).toContain('write it quoted, as a string');
  });

  it.each([
    ['a negative number', 'commonLabels:\n  offset: -5\n', 'commonLabels: "offset"'],
    ['a value over 63 characters', `commonLabels:\n  long: ${'a'.repeat(64)}\n`, 'commonLabels: "long"'],
    ['a value with a space', 'commonLabels:\n  team: "pay ments"\n', 'commonLabels: "team"'],
    ['a value ending in a dot', 'commonLabels:\n  team: "payments."\n', 'commonLabels: "team"'],
    ['a map as a value', 'commonLabels:\n  team:\n    name: payments\n', 'commonLabels: "team"'],
    ['a pod label with a slash in its value', 'ingress:\n  podLabels:\n    path: "a/b"\n', 'ingress.podLabels: "path"'],
  ])('%s, which Kubernetes refuses as a label value, fails the render naming the values key and the label', (_name, text, expected) => {
    const run = runHelm(templateArgs([valuesFile(text)]));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(expected);
    expect(run.stderr).toContain('label value');
  });

  it('a value of exactly 63 characters and an empty value are accepted', () => {
    const objects = renderChart([valuesFile(`commonLabels:\n  long: ${'a'.repeat(63)}\n  empty: ""\n`)]);
    expectEverywhere(objects, { long: 'a'.repeat(63), empty: '' });
  });
});
