import { describe, expect, it } from '@jest/globals';
import { one, renderChart, runHelm, templateArgs } from './helm.js';

/**
 * A PodDisruptionBudget whose minAvailable the role's fewest pods cannot exceed (minAvailable 1 with one replica,
 * minAvailable 2 with two, 100%, or a percentage Kubernetes rounds up to every pod) allows no eviction while the role
 * runs at that count, which without an autoscaler is always: `kubectl drain`, node pools' rolling upgrades and the
 * cluster autoscaler's scale-down wait on it for ever. The chart rendered it; it must refuse it, naming the values.
 * A role that may run no pods (replicaCount 0, KEDA minReplicas 0) has nothing to protect, and its budget blocks
 * nothing while it runs more.
 */

const refusal = (set: string[]) => {
  const run = runHelm(templateArgs([], set));
  expect(run.status).not.toBe(0);
  return run.stderr;
};

describe('PodDisruptionBudgets that would block every node drain', () => {
  it.each([
    ['ingress', ['ingress.replicaCount=1', 'podDisruptionBudget.ingress.minAvailable=1'], '(1, ingress.replicaCount)'],
    ['worker', ['podDisruptionBudget.worker.minAvailable=2'], '(2, worker.replicaCount)'],
    ['worker', ['podDisruptionBudget.worker.minAvailable=100%'], '(2, worker.replicaCount)'],
    ['worker', ['podDisruptionBudget.worker.minAvailable=51%'], '(2, worker.replicaCount)'],
    ['ingress', ['ingress.autoscaling.enabled=true', 'ingress.autoscaling.minReplicas=2', 'podDisruptionBudget.ingress.minAvailable=2'], '(2, ingress.autoscaling.minReplicas)'],
    ['worker', ['autoscaling.keda.enabled=true', 'autoscaling.keda.minReplicas=1', 'podDisruptionBudget.worker.minAvailable=1'], '(1, autoscaling.keda.minReplicas)'],
  ])('%s: %j is refused', (role, set, fewest) => {
    const stderr = refusal(set);
    expect(stderr).toContain(`podDisruptionBudget.${role}.minAvailable`);
    expect(stderr).toContain(`allows no eviction while the ${role} role runs its fewest pods ${fewest}`);
  });

  it.each([
    [['podDisruptionBudget.worker.minAvailable=1'], 'worker', { minAvailable: 1 }],
    [['podDisruptionBudget.worker.minAvailable=50%'], 'worker', { minAvailable: '50%' }],
    [['ingress.replicaCount=1', 'podDisruptionBudget.ingress.minAvailable=0'], 'ingress', { minAvailable: 0 }],
    [['ingress.replicaCount=1'], 'ingress', { maxUnavailable: 1 }],
    [['worker.replicaCount=0', 'podDisruptionBudget.worker.minAvailable=1'], 'worker', { minAvailable: 1 }],
    [['ingress.autoscaling.enabled=true', 'ingress.autoscaling.minReplicas=3', 'podDisruptionBudget.ingress.minAvailable=2'], 'ingress', { minAvailable: 2 }],
  ])('%j renders (a drain can always evict a pod)', (set, role, budget) => {
    expect(one(renderChart([], set), 'PodDisruptionBudget', `-${role}`).spec).toMatchObject(budget);
  });
});
