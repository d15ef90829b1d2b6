import { describe, expect, it } from '@jest/globals';
import { chartDir, one, podSpecOf, podTemplateOf, renderChart, runHelm, type K8sObject } from './helm.js';

/**
 * The migration Job is a pre-upgrade hook Helm waits for: a Job pod that cannot be scheduled, or lands on a node the
 * image cannot run on, fails the upgrade. So it takes what the Deployments take (as KEDA's and Bitnami's charts give
 * their hook Jobs): `migrations.{nodeSelector,tolerations,affinity,priorityClassName}`, falling back to the ingress
 * role's (its node affinity only: the ingress's pod (anti-)affinity is written against the ingress pods' labels),
 * `migrations.{podLabels,extraVolumes,extraVolumeMounts}` of its own, and the global pull secrets and security contexts.
 */

const job = (objects: K8sObject[]) => one(objects, 'Job', '-migrate');
const deployments = (objects: K8sObject[]) => [one(objects, 'Deployment', '-ingress'), one(objects, 'Deployment', '-worker')];

const nodeAffinity = {
  requiredDuringSchedulingIgnoredDuringExecution: {
    nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] }],
  },
};
const ingressAntiAffinity = {
  requiredDuringSchedulingIgnoredDuringExecution: [
    { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/component': 'ingress' } } },
  ],
};

/** --set-json pairs (helm's --set cannot write a list of objects inside a map easily). */
/** The migration Job's node placement and priority, as rendered. */
const placementOf = (objects: K8sObject[]) => {
  const { nodeSelector, tolerations, affinity, priorityClassName } = podSpecOf(job(objects));
  return { nodeSelector, tolerations, affinity, priorityClassName };
};
const json = (pairs: Record<string, unknown>) => Object.entries(pairs).flatMap(([key, value]) => ['--set-json', `${key}=${JSON.stringify(value)}`]);

describe('the migration Job\'s scheduling and pod settings', () => {
  it('takes migrations.{nodeSelector,tolerations,affinity,priorityClassName} over the ingress role\'s', () => {
    const objects = renderChart([], [], json({
      'ingress.nodeSelector': { pool: 'web' },
      'ingress.tolerations': [{ key: 'web', operator: 'Exists', effect: 'NoSchedule' }],
      'ingress.priorityClassName': 'web-critical',
      'migrations.nodeSelector': { pool: 'batch' },
      'migrations.tolerations': [{ key: 'batch', operator: 'Exists', effect: 'NoSchedule' }],
      'migrations.affinity': { nodeAffinity },
      'migrations.priorityClassName': 'batch-high',
    }));
    expect(placementOf(objects)).toEqual({
      nodeSelector: { pool: 'batch' },
      tolerations: [{ key: 'batch', operator: 'Exists', effect: 'NoSchedule' }],
      affinity: { nodeAffinity },
      priorityClassName: 'batch-high',
    });
  });

  it('without them, follows the ingress role\'s node placement and priority, but not its pod anti-affinity', () => {
    const objects = renderChart([], [], json({
      'ingress.nodeSelector': { pool: 'web' },
      'ingress.tolerations': [{ key: 'web', operator: 'Exists', effect: 'NoSchedule' }],
      'ingress.affinity': { nodeAffinity, podAntiAffinity: ingressAntiAffinity },
      'ingress.priorityClassName': 'web-critical',
    }));
    expect(placementOf(objects)).toEqual({
      nodeSelector: { pool: 'web' },
      tolerations: [{ key: 'web', operator: 'Exists', effect: 'NoSchedule' }],
      // A required anti-affinity to the ingress pods would keep the Job off every node running one.
      affinity: { nodeAffinity },
      priorityClassName: 'web-critical',
    });
  });

  it('renders no affinity or priority class by default', () => {
    const spec = podSpecOf(job(renderChart([])));
    expect(spec.affinity).toBeUndefined();
    expect(spec.priorityClassName).toBeUndefined();
    expect(spec.nodeSelector).toBeUndefined();
    expect(spec.tolerations).toBeUndefined();
  });

  it('takes migrations.{podLabels,extraVolumes,extraVolumeMounts} (after the global volumes), which reach no Deployment', () => {
    const objects = renderChart([], [], json({
      extraVolumes: [{ name: 'db-ca', secret: { secretName: 'db-ca' } }],
      extraVolumeMounts: [{ name: 'db-ca', mountPath: '/etc/eis/db-ca', readOnly: true }],
      'migrations.podLabels': { 'sidecar.istio.io/inject': 'false' },
      'migrations.extraVolumes': [{ name: 'migrate-scratch', emptyDir: { sizeLimit: '1Gi' } }],
      'migrations.extraVolumeMounts': [{ name: 'migrate-scratch', mountPath: '/scratch' }],
    }));
    const template = podTemplateOf(job(objects));
    expect(template.metadata.labels).toMatchObject({ 'sidecar.istio.io/inject': 'false', 'app.kubernetes.io/component': 'migrations' });
    expect(template.spec.volumes.map((v: { name: string }) => v.name)).toEqual(['tmp', 'db-ca', 'migrate-scratch']);
    expect(template.spec.containers[0].volumeMounts.map((m: { name: string }) => m.name)).toEqual(['tmp', 'db-ca', 'migrate-scratch']);
    for (const deployment of deployments(objects)) {
      const pod = podTemplateOf(deployment);
      expect(pod.metadata.labels['sidecar.istio.io/inject']).toBeUndefined();
      expect(pod.spec.volumes.map((v: { name: string }) => v.name)).not.toContain('migrate-scratch');
    }
  });

  it('takes the Deployments\' pull secrets and security contexts', () => {
    const objects = renderChart([], [], json({ imagePullSecrets: [{ name: 'registry' }] }));
    const spec = podSpecOf(job(objects));
    for (const deployment of deployments(objects)) {
      const pod = podSpecOf(deployment);
      expect(spec.imagePullSecrets).toEqual(pod.imagePullSecrets);
      expect(spec.securityContext).toEqual(pod.securityContext);
      expect(spec.containers[0].securityContext).toEqual(pod.containers[0].securityContext);
    }
    expect(spec.imagePullSecrets).toEqual([{ name: 'registry' }]);
  });

  it('passes helm lint with every migrations scheduling value set, and refuses a volume without name', () => {
    const lint = runHelm(['lint', chartDir, ...json({
      'migrations.nodeSelector': { pool: 'batch' },
      'migrations.tolerations': [{ key: 'batch', operator: 'Exists', effect: 'NoSchedule' }],
      'migrations.affinity': { nodeAffinity },
      'migrations.priorityClassName': 'batch-high',
      'migrations.podLabels': { team: 'platform' },
      'migrations.extraVolumes': [{ name: 'scratch', emptyDir: {} }],
      'migrations.extraVolumeMounts': [{ name: 'scratch', mountPath: '/scratch' }],
    })]);
    expect(lint.stdout + lint.stderr).toContain('0 chart(s) failed');
    const noName = runHelm(['template', 'eis', chartDir, ...json({ 'migrations.extraVolumes': [{ emptyDir: {} }] })]);
    expect(noName.status).not.toBe(0);
    expect(noName.stderr).toMatch(/migrations.*extraVolumes|extraVolumes.*migrations/);
  });
});
