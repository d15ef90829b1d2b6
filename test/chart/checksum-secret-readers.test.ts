import { describe, expect, it } from '@jest/globals';
import { find, podSpecOf, podTemplateOf, renderChart, type K8sObject } from './helm.js';

/**
 * A pod reads a Secret (secretKeyRef, envFrom, a secret volume's env-like files at start) when it starts, so a Secret
 * the chart renders must be hashed into the pod template of every workload that reads it: otherwise `helm upgrade`
 * rewrites the Secret and leaves the running pods with the old value, and only pods started later (a reschedule, a
 * scale-up) get the new one. PRESTOP_TOKEN was such a case: the ingress pods rolled when it changed (the hook's
 * header is a literal in their spec), the workers, which read it from the same Secret, did not, and kept refusing
 * the new token.
 *
 * For each value below: render twice, find the chart's Secrets whose contents differ, and check every Deployment and
 * StatefulSet: its pod template changes if and only if it reads one of them. Hook objects (the migration Job, the
 * test Pod) are created anew on every run, so they always read the current Secret.
 */

// Every generated value pinned, so that two renders differ only in what a case changes.
const pinned = ['secrets.adminApiToken=admin', 'secrets.preStopToken=prestop', 'postgresql.auth.password=pg', 'redis.auth.password=redis'];
const external = ['postgresql.enabled=false', 'externalDatabase.host=db.example', 'redis.enabled=false', 'externalRedis.host=redis.example'];

const cases: [string, string[], string[]][] = [
  ['secrets.preStopToken', ['secrets.preStopToken=one'], ['secrets.preStopToken=two']],
  ['secrets.adminApiToken', ['secrets.adminApiToken=one'], ['secrets.adminApiToken=two']],
  ['secrets.stripeWebhookSecret', ['secrets.stripeWebhookSecret=whsec_one'], ['secrets.stripeWebhookSecret=whsec_two']],
  ['routes (the files Secret)', ['routes.destinations.billing.url=http://billing.one/hooks'], ['routes.destinations.billing.url=http://billing.two/hooks']],
  ['redis.auth.password', ['redis.auth.password=one'], ['redis.auth.password=two']],
  ['externalDatabase.password', [...external, 'externalDatabase.password=one'], [...external, 'externalDatabase.password=two']],
  ['externalRedis.password', [...external, 'externalRedis.password=one'], [...external, 'externalRedis.password=two']],
];

/** Names of the Secrets a pod spec reads: env secretKeyRef, envFrom secretRef, secret volumes, projected secrets. */
function secretsReadBy(podSpec: any): Set<string> {
  const names = new Set<string>();
  for (const container of [...(podSpec.initContainers ?? []), ...(podSpec.containers ?? [])]) {
    for (const env of container.env ?? []) if (env.valueFrom?.secretKeyRef) names.add(env.valueFrom.secretKeyRef.name);
    for (const from of container.envFrom ?? []) if (from.secretRef) names.add(from.secretRef.name);
  }
  for (const volume of podSpec.volumes ?? []) {
    if (volume.secret) names.add(volume.secret.secretName);
    for (const source of volume.projected?.sources ?? []) if (source.secret) names.add(source.secret.name);
  }
  return names;
}

// Hook Secrets (the migration Job's password) are left out: they are made anew with their Job, every run.
const secretContents = (objects: K8sObject[]) =>
  new Map(find(objects, 'Secret').filter((s) => !s.metadata.annotations?.['helm.sh/hook']).map((s) => [s.metadata.name, JSON.stringify({ data: s.data ?? {}, stringData: s.stringData ?? {} })]));

const workloads = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');

describe('every workload rolls when a chart-made Secret it reads changes, and only then', () => {
  it.each(cases)('%s', (_value, before, after) => {
    const first = renderChart([], [...pinned, ...before]);
    const second = renderChart([], [...pinned, ...after]);

    const [oldSecrets, newSecrets] = [secretContents(first), secretContents(second)];
    const changed = [...newSecrets.keys()].filter((name) => oldSecrets.get(name) !== newSecrets.get(name));
    expect(changed).toHaveLength(1);

    const outcome = workloads(second).map((workload) => {
      const earlier = workloads(first).find((o) => o.kind === workload.kind && o.metadata.name === workload.metadata.name)!;
      const reads = changed.some((name) => secretsReadBy(podSpecOf(workload)).has(name));
      const rolls = JSON.stringify(podTemplateOf(earlier)) !== JSON.stringify(podTemplateOf(workload));
      return { workload: `${workload.kind}/${workload.metadata.name}`, reads, rolls };
    });
    expect(outcome.some((o) => o.reads)).toBe(true);
    // The bundled PostgreSQL reads its password only to initialise an empty data directory (POSTGRES_PASSWORD): a
    // restart would not change the password of existing data, so it has no checksum (README: change it there first).
    for (const o of outcome) if (!o.workload.endsWith('-postgresql')) expect(o).toEqual({ ...o, rolls: o.reads });
  });

  it('secrets.preStopToken rolls the workers too, not only the ingress pods whose hook header carries it', () => {
    const template = (set: string[], role: string) =>
      find(renderChart([], [...pinned, ...set]), 'Deployment', `-${role}`)[0]!.spec.template.metadata.annotations as Record<string, string>;
    expect(template(['secrets.preStopToken=two'], 'worker')).not.toEqual(template(['secrets.preStopToken=one'], 'worker'));
    // Without the httpGet hook there is no token and no Secret: the annotation stays put whatever the value says.
    const sleep = ['ingress.preStopHandler=sleep'];
    expect(template([...sleep, 'secrets.preStopToken=two'], 'worker')).toEqual(template([...sleep, 'secrets.preStopToken=one'], 'worker'));
  });
});
