import { describe, expect, it } from '@jest/globals';
import { liveObject, renderAgainstCluster } from './fake-kube-api.js';
import { one, releaseName, type K8sObject } from './helm.js';

/**
 * What the chart renders for an upgrade of a running release: `helm template --dry-run=server` against a fake API
 * server seeded with the release's live objects, so the chart's `lookup`s see them (see fake-kube-api.ts).
 */

const fullname = `${releaseName}-event-integration-service`;
const deployment = (role: string, replicas: number) =>
  liveObject('apps/v1', 'Deployment', `${fullname}-${role}`, { spec: { replicas, selector: { matchLabels: {} }, template: {} } });
const secret = (name: string, data: Record<string, string>) =>
  liveObject('v1', 'Secret', name, { type: 'Opaque', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });
const pvc = (name: string) => liveObject('v1', 'PersistentVolumeClaim', name, { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '8Gi' } } } });
const statefulSet = (component: 'postgresql' | 'redis', claim?: { storage: string; storageClassName?: string; accessModes?: string[]; annotations?: Record<string, string> }) =>
  liveObject('apps/v1', 'StatefulSet', `${fullname}-${component}`, {
    spec: {
      replicas: 1,
      serviceName: `${fullname}-${component}-headless`,
      selector: { matchLabels: {} },
      template: {},
      ...(claim
        ? {
            volumeClaimTemplates: [
              {
                apiVersion: 'v1',
                kind: 'PersistentVolumeClaim',
                metadata: { name: 'data', ...(claim.annotations ? { annotations: claim.annotations } : {}) },
                spec: {
                  accessModes: claim.accessModes ?? ['ReadWriteOnce'],
                  ...(claim.storageClassName !== undefined ? { storageClassName: claim.storageClassName } : {}),
                  resources: { requests: { storage: claim.storage } },
                  volumeMode: 'Filesystem',
                },
              },
            ],
          }
        : {}),
    },
  });

async function rendered(objects: K8sObject[], set: string[] = [], valueFiles: string[] = []): Promise<K8sObject[]> {
  const run = await renderAgainstCluster(objects, valueFiles, set);
  if (run.status !== 0) throw new Error(`helm template --dry-run=server failed: ${run.stderr}`);
  return run.objects;
}

async function refused(objects: K8sObject[], set: string[] = []): Promise<string> {
  const run = await renderAgainstCluster(objects, [], set);
  expect(run.status).not.toBe(0);
  return run.stderr;
}

const replicasOf = (objects: K8sObject[], role: string) => one(objects, 'Deployment', `-${role}`).spec.replicas as number | undefined;

describe('the fake API server', () => {
  it('is really consulted: the chart reads live objects back (the generated passwords and admin token)', async () => {
    const run = await renderAgainstCluster([
      secret(`${fullname}-postgresql`, { password: 'LivePostgresPassword0000000000AB' }),
      secret(`${fullname}-redis`, { 'redis-password': 'LiveRedisPassword000000000000000' }),
      secret(fullname, { ADMIN_API_TOKEN: 'live-admin-token' }),
    ]);
    expect(run.status).toBe(0);
    expect(run.lookups).toContain(`/api/v1/namespaces/webhooks/secrets/${fullname}-postgresql`);
    const decoded = (suffix: string, key: string) => Buffer.from(one(run.objects, 'Secret', suffix).data![key]!, 'base64').toString();
    expect(decoded('-postgresql', 'password')).toBe('LivePostgresPassword0000000000AB');
    expect(decoded('-redis', 'redis-password')).toBe('LiveRedisPassword000000000000000');
    expect(decoded('event-integration-service', 'ADMIN_API_TOKEN')).toBe('live-admin-token');
  });
});

describe('switching an autoscaler on for a running release keeps its pods', () => {
  it('ingress HPA: renders the live replica count (never below minReplicas) instead of dropping the field (which resets it to 1)', async () => {
    expect(replicasOf(await rendered([deployment('ingress', 4)], ['ingress.autoscaling.enabled=true']), 'ingress')).toBe(4);
    expect(replicasOf(await rendered([deployment('ingress', 1)], ['ingress.autoscaling.enabled=true', 'ingress.autoscaling.minReplicas=3']), 'ingress')).toBe(3);
    // The HPA already runs it at 7: the upgrade leaves 7.
    expect(replicasOf(await rendered([deployment('ingress', 7)], ['ingress.autoscaling.enabled=true']), 'ingress')).toBe(7);
    // Without the HPA, replicaCount rules as before.
    expect(replicasOf(await rendered([deployment('ingress', 4)]), 'ingress')).toBe(2);
  });

  it('worker KEDA: the same, including a worker scaled to zero by minReplicas 0', async () => {
    const keda = ['autoscaling.keda.enabled=true'];
    expect(replicasOf(await rendered([deployment('worker', 5)], keda), 'worker')).toBe(5);
    expect(replicasOf(await rendered([deployment('worker', 1)], [...keda, 'autoscaling.keda.minReplicas=2']), 'worker')).toBe(2);
    expect(replicasOf(await rendered([deployment('worker', 0)], [...keda, 'autoscaling.keda.minReplicas=0']), 'worker')).toBe(0);
  });

  it('a first install (no live Deployment) leaves replicas to the autoscaler', async () => {
    const objects = await rendered([], ['ingress.autoscaling.enabled=true', 'autoscaling.keda.enabled=true']);
    expect(replicasOf(objects, 'ingress')).toBeUndefined();
    expect(replicasOf(objects, 'worker')).toBeUndefined();
  });
});

describe('generated passwords across uninstall and bundled/external switches', () => {
  const pgPvc = `data-${fullname}-postgresql-0`;

  it('refuses to generate a PostgreSQL password that the retained volume would not accept, and says what to do', async () => {
    const message = await refused([pvc(pgPvc)]);
    expect(message).toContain(`the volume ${pgPvc} holds a database`);
    expect(message).toContain('postgresql.auth.password');
    expect(message).toContain(`kubectl -n webhooks delete pvc ${pgPvc}`);
  });

  it('goes ahead when the password is known: its Secret is live, it is given, or an existing Secret is named', async () => {
    await rendered([pvc(pgPvc), secret(`${fullname}-postgresql`, { password: 'LivePostgresPassword0000000000AB' })]);
    await rendered([pvc(pgPvc)], ['postgresql.auth.password=TheOldPassword']);
    await rendered([pvc(pgPvc)], ['postgresql.auth.existingSecret=my-db']);
    // And without a retained volume there is nothing to protect.
    await rendered([]);
  });
});

describe('bundled volumes of a running release', () => {
  it('refuses a bigger size with the resize procedure instead of an upgrade Kubernetes would reject', async () => {
    const message = await refused([statefulSet('postgresql', { storage: '8Gi' })], ['postgresql.persistence.size=20Gi']);
    expect(message).toContain('postgresql.persistence.size 8Gi -> 20Gi');
    expect(message).toContain(`kubectl -n webhooks patch pvc data-${fullname}-postgresql-0`);
    expect(message).toContain('"storage":"20Gi"');
    expect(message).toContain(`kubectl -n webhooks delete statefulset ${fullname}-postgresql --cascade=orphan`);
    const redis = await refused([statefulSet('redis', { storage: '2Gi' })], ['redis.persistence.size=4Gi']);
    expect(redis).toContain('redis.persistence.size 2Gi -> 4Gi');
  });

  it('accepts the same size however it is spelt, and refuses to shrink, to change class or access modes, or to toggle persistence', async () => {
    await rendered([statefulSet('postgresql', { storage: '8Gi' }), statefulSet('redis', { storage: '2048Mi' })]);
    await rendered([statefulSet('postgresql', { storage: '8Gi' })], ['postgresql.persistence.size=8192Mi']);
    expect(await refused([statefulSet('postgresql', { storage: '8Gi' })], ['postgresql.persistence.size=4Gi'])).toContain('never shrinks');
    expect(await refused([statefulSet('postgresql', { storage: '8Gi', storageClassName: 'standard' })], ['postgresql.persistence.storageClass=fast'])).toContain(
      'postgresql.persistence.storageClass "fast" differs from the "standard"',
    );
    expect(await refused([statefulSet('redis', { storage: '2Gi', accessModes: ['ReadWriteMany'] })])).toContain('redis.persistence.accessModes');
    expect(await refused([statefulSet('postgresql', { storage: '8Gi' })], ['postgresql.persistence.enabled=false'])).toContain(
      'postgresql.persistence.enabled cannot change',
    );
    expect(await refused([statefulSet('redis')])).toContain('redis.persistence.enabled cannot change');
  });

  it('refuses to add or change the claim template\'s annotations, or to turn an unset class into "-" (an explicit empty one)', async () => {
    expect(await refused([statefulSet('postgresql', { storage: '8Gi' })], ['postgresql.persistence.annotations.backup=daily'])).toContain(
      'postgresql.persistence.annotations {"backup":"daily"} differ',
    );
    await rendered([statefulSet('postgresql', { storage: '8Gi', annotations: { backup: 'daily' } })], ['postgresql.persistence.annotations.backup=daily']);
    expect(await refused([statefulSet('postgresql', { storage: '8Gi' })], ['postgresql.persistence.storageClass=-'])).toContain('postgresql.persistence.storageClass');
    await rendered([statefulSet('postgresql', { storage: '8Gi', storageClassName: '' })], ['postgresql.persistence.storageClass=-']);
    expect(await refused([statefulSet('postgresql', { storage: '8Gi', storageClassName: '' })])).toContain('postgresql.persistence.storageClass');
  });

  it('after the documented steps (the StatefulSet deleted with --cascade=orphan) the upgrade renders the new size', async () => {
    const objects = await rendered([pvc(`data-${fullname}-postgresql-0`), secret(`${fullname}-postgresql`, { password: 'x' })], ['postgresql.persistence.size=20Gi']);
    expect(one(objects, 'StatefulSet', '-postgresql').spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('20Gi');
  });
});
