import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { chartDir, runHelm, templateArgs } from './helm.js';

/**
 * A typo in a value that ends up in a Kubernetes enum or quantity field (a pull policy, an access mode, a volume size,
 * a PDB budget, a probe timing, a strategy type, a ServiceMonitor interval) must fail `helm template` with a message
 * naming the value, not render fine and then fail at apply time (or, for an unknown probe key, be silently ignored).
 */

const typos: [string, string, string][] = [
  ['image.pullPolicy=Allways', '/image/pullPolicy', 'must be one of'],
  ['postgresql.image.pullPolicy=ifNotPresent', '/postgresql/image/pullPolicy', 'must be one of'],
  ['redis.image.pullPolicy=Allways', '/redis/image/pullPolicy', 'must be one of'],
  ['postgresql.persistence.accessModes={ReadWriteOnly}', '/postgresql/persistence/accessModes/0', 'must be one of'],
  ['redis.persistence.accessModes={RWO}', '/redis/persistence/accessModes/0', 'must be one of'],
  ['postgresql.persistence.size=8GB', '/postgresql/persistence/size', 'does not match pattern'],
  ['redis.persistence.size=2 Gi', '/redis/persistence/size', 'does not match pattern'],
  ['podDisruptionBudget.worker.minAvailable=half', '/podDisruptionBudget/worker/minAvailable', 'does not match pattern'],
  ['podDisruptionBudget.ingress.maxUnavailable=50 %', '/podDisruptionBudget/ingress/maxUnavailable', 'does not match pattern'],
  ['probes.liveness.periodSecond=5', '/probes/liveness', "additional properties 'periodSecond' not allowed"],
  ['probes.readiness.initialDelaySeconds=5', '/probes/readiness', "additional properties 'initialDelaySeconds' not allowed"],
  ['probes.startup.failureThreshold=lots', '/probes/startup/failureThreshold', 'does not match pattern'],
  ['probes.readiness.timeoutSeconds=0', '/probes/readiness/timeoutSeconds', 'minimum'],
  ['worker.strategy.type=Rolling', '/worker/strategy/type', 'must be one of'],
  ['metrics.serviceMonitor.interval=30 sec', '/metrics/serviceMonitor/interval', 'does not match pattern'],
];

describe('values.schema.json refuses typos in Kubernetes enum and quantity values', () => {
  it.each(typos)('--set %s', (set, at, message) => {
    const run = runHelm(templateArgs([], [set]));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(`at '${at}'`);
    expect(run.stderr).toContain(message);
  });

  it('still takes what Kubernetes takes', () => {
    const valid = [
      'postgresql.persistence.accessModes={ReadWriteOncePod}',
      'redis.persistence.size=1.5Gi',
      'postgresql.persistence.size=500M',
      'podDisruptionBudget.worker.minAvailable=50%',
      'podDisruptionBudget.worker.maxUnavailable=',
      'podDisruptionBudget.ingress.maxUnavailable=0',
      'probes.startup.failureThreshold=40',
      'ingress.strategy.type=Recreate',
      'metrics.serviceMonitor.interval=1m30s',
    ];
    const run = runHelm(templateArgs([], valid));
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('constrains every pullPolicy and accessModes key values.yaml has (a new image or volume gets its enum too)', () => {
    const values = parse(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
    const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8'));
    const unconstrained: string[] = [];
    const walk = (node: unknown, schemaNode: any, at: string[]) => {
      if (!node || typeof node !== 'object' || Array.isArray(node)) return;
      for (const [key, value] of Object.entries(node)) {
        const child = schemaNode?.properties?.[key];
        if (key === 'pullPolicy' && !child?.enum) unconstrained.push([...at, key].join('.'));
        if (key === 'accessModes' && !child?.items?.enum) unconstrained.push([...at, key].join('.'));
        walk(value, child, [...at, key]);
      }
    };
    walk(values, schema, []);
    expect(unconstrained).toEqual([]);
  });
});
