import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ADMIN_POOL_SIZE, MIGRATION_POOL_SIZE } from '../../services/shared/database/data-source.js';
import { chartDir, find, one, podSpecOf, releaseName, releaseNamespace, renderChart, runHelm, templateArgs, valuesDir, type K8sObject } from './helm.js';

/**
 * Every ingress and worker pod holds a pg pool of its own (DATABASE_POOL_SIZE, 20 by default; the ingress also the
 * admin API's data source, ADMIN_POOL_SIZE), so the connections the service may open grow with the pods: with the
 * KEDA worker autoscaler at its maxReplicas (20 by default) and the ingress HPA at its maxReplicas (10), plus the pods a
 * rollout surges meanwhile, that is 764 connections by default. The bundled PostgreSQL had a fixed max_connections
 * of 200: under scale-out the pods past it get "sorry, too many clients already" (53300) on connect, so new pods never
 * get ready and running ones fail their queries as their pools grow. PostgreSQL's max_connections must cover the most
 * pods each Deployment can run (its autoscaler's maxReplicas, else replicaCount, plus its rollout's maxSurge) × what
 * each pod's pools open, with room left for the migration Job, whose pre-upgrade run meets the old pods at full scale.
 */

/** The migration Job's sessions: its data source's pool and the migration lock's session. */
const MIGRATION_SESSIONS = MIGRATION_POOL_SIZE + 1;

/** PostgreSQL's max_connections as the bundled StatefulSet starts it (its own default, 100, when no `-c` sets it). */
function maxConnections(objects: K8sObject[]): number {
  const args: string[] = podSpecOf(one(objects, 'StatefulSet', '-postgresql')).containers[0].args ?? [];
  const setting = args.filter((arg, index) => args[index - 1] === '-c' && arg.startsWith('max_connections='));
  expect(setting.length).toBeLessThanOrEqual(1);
  return setting.length === 0 ? 100 : Number(setting[0]!.slice('max_connections='.length));
}

/** Pods a rollout may run above the count: maxSurge (Kubernetes rounds a percentage up; its default is 25%), and
never more new pods than the count itself. */
function surge(deployment: K8sObject, replicas: number): number {
  const strategy = deployment.spec.strategy ?? {};
  if (strategy.type === 'Recreate') return 0;
  const maxSurge: number | string = strategy.rollingUpdate?.maxSurge ?? '25%';
  const pods = typeof maxSurge === 'number' ? maxSurge : Math.ceil((replicas * Number.parseInt(maxSurge, 10)) / 100);
  return Math.min(pods, replicas);
}

/** The most pods of a role and the connections each may open, read from the rendered objects. */
function rolePeak(objects: K8sObject[], role: 'ingress' | 'worker'): { pods: number; perPod: number } {
  const deployment = one(objects, 'Deployment', `-${role}`);
  const name = deployment.metadata.name;
  const hpa = find(objects, 'HorizontalPodAutoscaler').find((o) => o.spec.scaleTargetRef.name === name);
  const scaledObject = find(objects, 'ScaledObject').find((o) => o.spec.scaleTargetRef.name === name);
  const replicas: number = hpa?.spec.maxReplicas ?? scaledObject?.spec.maxReplicaCount ?? deployment.spec.replicas ?? 1;
  const env = podSpecOf(deployment).containers[0].env as { name: string; value?: string }[];
  const poolSize = Number(env.find((e) => e.name === 'DATABASE_POOL_SIZE')?.value ?? 20);
  return { pods: replicas + surge(deployment, replicas), perPod: poolSize + (role === 'ingress' ? ADMIN_POOL_SIZE : 0) };
}

/** What the service's pods may open at once, at the autoscalers' maximum during a rollout. */
function podConnections(objects: K8sObject[]): number {
  return (['ingress', 'worker'] as const).map((role) => rolePeak(objects, role)).reduce((sum, { pods, perPod }) => sum + pods * perPod, 0);
}

const KEDA = ['autoscaling.keda.enabled=true'];
const HPA = ['ingress.autoscaling.enabled=true'];

const scenarios: { name: string; set: string[]; pods: number }[] = [
  // ingress 2 + 1 surge × 24, worker 2 + 1 (25% of 2, rounded up) × 20
  { name: 'the defaults', set: [], pods: 132 },
  // worker 20 + 5 × 20, ingress 10 + 1 × 24
  { name: 'KEDA and the ingress HPA at their default maxReplicas', set: [...KEDA, ...HPA], pods: 764 },
  {
    name: 'bigger worker pools, a Recreate worker strategy, a fixed ingress with smaller pools',
    set: [...KEDA, 'autoscaling.keda.maxReplicas=8', 'worker.config.DATABASE_POOL_SIZE=50', 'worker.strategy.type=Recreate', 'ingress.replicaCount=3', 'config.DATABASE_POOL_SIZE=10'],
    pods: 8 * 50 + (3 + 1) * (10 + 4),
  },
  {
    name: 'an ingress rollout surging 50% of the HPA maximum',
    set: [...HPA, 'ingress.autoscaling.maxReplicas=7', 'ingress.strategy.type=RollingUpdate', 'ingress.strategy.rollingUpdate.maxSurge=50%'],
    pods: (7 + 4) * 24 + 3 * 20,
  },
  { name: 'no ingress pods', set: ['ingress.replicaCount=0', ...KEDA, 'autoscaling.keda.maxReplicas=12'], pods: (12 + 3) * 20 },
];

describe('the bundled PostgreSQL max_connections against the pods pools', () => {
  const reserves: number[] = [];

  it.each(scenarios)('covers every pool at the most pods, and the migration Job: $name', ({ set, pods }) => {
    const objects = renderChart([], set);
    expect(podConnections(objects)).toBe(pods);
    const max = maxConnections(objects);
    expect({ maxConnections: max, covers: max >= pods + MIGRATION_SESSIONS }).toEqual({ maxConnections: max, covers: true });
    reserves.push(max - pods);
  });

  it('is derived from them (the same reserve over the pools in every case), not a fixed number', () => {
    expect(reserves).toHaveLength(scenarios.length);
    expect(new Set(reserves).size).toBe(1);
  });

  it('grows with postgresql.connectionReserve', () => {
    const objects = renderChart([], [...KEDA, 'postgresql.connectionReserve=40']);
    expect(maxConnections(objects)).toBe(podConnections(objects) + 40);
  });

  it('passes other server settings through postgresql.parameters, next to the derived max_connections', () => {
    const objects = renderChart([], [...KEDA, ...HPA, 'postgresql.parameters.shared_buffers=256MB', 'postgresql.parameters.log_min_duration_statement=500']);
    const args: string[] = podSpecOf(one(objects, 'StatefulSet', '-postgresql')).containers[0].args;
    expect(args).toEqual(expect.arrayContaining(['-c', 'shared_buffers=256MB', 'log_min_duration_statement=500']));
    expect(maxConnections(objects)).toBeGreaterThanOrEqual(764 + MIGRATION_SESSIONS);
  });

  it('takes an explicit max_connections that covers the need as it is', () => {
    expect(maxConnections(renderChart([], ['postgresql.parameters.max_connections=200']))).toBe(200);
    expect(maxConnections(renderChart([], [...KEDA, ...HPA, 'postgresql.parameters.max_connections=1000']))).toBe(1000);
  });

  it('refuses an explicit max_connections below the need, in one line naming the value and what it must cover', () => {
    const run = runHelm(templateArgs([], [...KEDA, ...HPA, 'postgresql.parameters.max_connections=200']));
    expect(run.status).not.toBe(0);
    const errorLines = run.stderr.split('\n').filter((line) => line.startsWith('Error:'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toMatch(/postgresql\.parameters\.max_connections=200\b.*\b764\b/);
    expect(errorLines[0]).toMatch(/autoscaling\.keda\.maxReplicas/);
    expect(errorLines[0]).toMatch(/ingress\.autoscaling\.maxReplicas/);
  });

  it('refuses a max_connections that is not a whole number', () => {
    const run = runHelm(templateArgs([], ['postgresql.parameters.max_connections=lots']));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/postgresql\.parameters\.max_connections/);
  });

  it('checks nothing when the bundled PostgreSQL is off (an external database is sized by its owner)', () => {
    const objects = renderChart(['external-services.yaml'], [...KEDA, ...HPA, 'postgresql.parameters.max_connections=10']);
    expect(find(objects, 'StatefulSet', '-postgresql')).toHaveLength(0);
  });

  /** NOTES.txt of an install (helm template does not print it). */
  const notes = (files: string[], set: string[]) => {
    const values = [...files.flatMap((file) => ['-f', path.join(valuesDir, file)]), ...set.flatMap((pair) => ['--set', pair])];
    const run = runHelm(['install', releaseName, chartDir, '--namespace', releaseNamespace, '--dry-run=client', ...values]);
    expect(run.stderr).toBe('');
    return run.stdout.slice(run.stdout.indexOf('NOTES:')).replace(/\s+/g, ' ');
  };

  it('NOTES tells the owner of an external database how many connections the pods may open', () => {
    const objects = renderChart(['external-services.yaml'], [...KEDA, ...HPA]);
    const text = notes(['external-services.yaml'], [...KEDA, ...HPA]);
    expect(text).toContain(`up to ${podConnections(objects)} connections`);
    expect(text).toMatch(/max_connections/);
  });

  it('NOTES shows the bundled PostgreSQL its max_connections and what the pools may open', () => {
    const objects = renderChart([], [...KEDA, ...HPA]);
    const text = notes([], [...KEDA, ...HPA]);
    expect(text).toContain(`max_connections ${maxConnections(objects)}`);
    expect(text).toContain(`up to ${podConnections(objects)} connections`);
  });
});
