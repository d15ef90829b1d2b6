import { describe, expect, it } from '@jest/globals';
import { renderAgainstCluster } from './fake-kube-api.js';
import { find, one, podSpecOf, releaseName, releaseNamespace, renderChart, selects, valueSets, type K8sObject } from './helm.js';

/**
 * The migration Job is a pre-upgrade hook: Helm runs it before it applies the new release's objects, so it finds the
 * cluster as the old release left it. Whatever it needs from the chart must therefore come with it, as hook objects
 * of its own hook created before it (lower helm.sh/hook-weight); what it needs from outside the chart (an
 * existingSecret, the namespace's default ServiceAccount) exists whatever the release did.
 *
 * First by rendering (every value set, every toggle below), then by simulating Helm's hook ordering for each toggle
 * as one `helm upgrade`: the old values' objects are live in a fake API server, the new values are rendered against
 * it as an upgrade (so the chart's lookups see the old release), and the Job's needs are checked against exactly
 * what exists when Helm starts it: the old release's objects plus the new hook objects of lower weight (pre-upgrade),
 * or the new release's objects plus those (post-upgrade).
 */

const fullname = `${releaseName}-event-integration-service`;
const hookOf = (o: K8sObject) => o.metadata.annotations?.['helm.sh/hook'];
const weightOf = (o: K8sObject) => Number(o.metadata.annotations?.['helm.sh/hook-weight'] ?? 0);
const phasesOf = (o: K8sObject) => (hookOf(o) ?? '').split(',').map((p) => p.trim());
const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;

/** What the Job's pod needs to exist before it can start: Secrets (with keys), ConfigMaps, its ServiceAccount. */
function needsOf(job: K8sObject) {
  const spec = podSpecOf(job);
  const secrets = new Map<string, Set<string>>();
  const configMaps = new Set<string>();
  const addSecret = (name: string, secretKey?: string) => {
    const keys = secrets.get(name) ?? new Set<string>();
    if (secretKey) keys.add(secretKey);
    secrets.set(name, keys);
  };
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const env of container.env ?? []) {
      const ref = env.valueFrom?.secretKeyRef;
      if (ref && ref.optional !== true) addSecret(ref.name, ref.key);
      const cm = env.valueFrom?.configMapKeyRef;
      if (cm && cm.optional !== true) configMaps.add(cm.name);
    }
    for (const from of container.envFrom ?? []) {
      if (from.secretRef && from.secretRef.optional !== true) addSecret(from.secretRef.name);
      if (from.configMapRef && from.configMapRef.optional !== true) configMaps.add(from.configMapRef.name);
    }
  }
  for (const volume of spec.volumes ?? []) {
    if (volume.secret && volume.secret.optional !== true) addSecret(volume.secret.secretName);
    if (volume.configMap && volume.configMap.optional !== true) configMaps.add(volume.configMap.name);
  }
  return { secrets, configMaps, serviceAccount: (spec.serviceAccountName as string | undefined) ?? 'default' };
}

// The values this file switches between. Passwords in values are URL-safe, as the schema requires.
const externalHost = 'db.example.internal';
const bundled: string[] = [];
const externalPassword = ['postgresql.enabled=false', `externalDatabase.host=${externalHost}`, 'externalDatabase.password=ExternalPassw0rd'];
const externalSecret = ['postgresql.enabled=false', `externalDatabase.host=${externalHost}`, 'externalDatabase.existingSecret=team-db', 'externalDatabase.existingSecretPasswordKey=pw'];
const externalOtherPort = [...externalPassword, 'externalDatabase.port=6432'];
const bundledOwnSecret = ['postgresql.auth.existingSecret=team-pg', 'postgresql.auth.secretKeys.userPasswordKey=pw'];
const policies = ['networkPolicy.enabled=true'];
const ownServiceAccount = ['ingress.serviceAccount.create=false', 'ingress.serviceAccount.name=team-sa'];
const renamedServiceAccount = ['ingress.serviceAccount.name=webhooks-ingress'];

/** What exists in the namespace independently of the release (the team's own Secrets and ServiceAccounts). */
const outside: K8sObject[] = [
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'team-db', namespace: releaseNamespace }, data: { pw: Buffer.from('TeamDbPassw0rd').toString('base64') } },
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'team-pg', namespace: releaseNamespace }, data: { pw: Buffer.from('TeamPgPassw0rd').toString('base64') } },
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'team-sa', namespace: releaseNamespace } },
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: releaseNamespace } },
];

const toggles: Array<[string, string[], string[]]> = [
  ['nothing (a plain upgrade)', bundled, bundled],
  ['bundled -> external PostgreSQL (password in values)', bundled, externalPassword],
  ['bundled -> external PostgreSQL (existingSecret)', bundled, externalSecret],
  ['external -> bundled PostgreSQL', externalPassword, bundled],
  ['external existingSecret -> password in values', externalSecret, externalPassword],
  ['external password in values -> existingSecret', externalPassword, externalSecret],
  ['bundled: chart-made Secret -> existingSecret', bundled, bundledOwnSecret],
  ['NetworkPolicies switched on', bundled, policies],
  ['NetworkPolicies off', policies, bundled],
  ['bundled -> external on another port, with NetworkPolicies', policies, [...externalOtherPort, ...policies]],
  ['external -> bundled, with NetworkPolicies', [...externalPassword, ...policies], policies],
  ['external database port changed, with NetworkPolicies', [...externalPassword, ...policies], [...externalOtherPort, ...policies]],
  ['ServiceAccount renamed', bundled, renamedServiceAccount],
  ['ServiceAccount: your own -> created by the chart', ownServiceAccount, bundled],
  ['ServiceAccount: created by the chart -> your own', bundled, ownServiceAccount],
];

describe('the migration Job brings what it needs from the chart as hook objects of its own hook, created before it', () => {
  const check = (objects: K8sObject[]) => {
    const job = one(objects, 'Job', '-migrate');
    const needs = needsOf(job);
    const rendered = (kind: string, name: string) => objects.filter((o) => o.kind === kind && o.metadata.name === name);
    // A chart-made object the Job needs is a hook object of the Job's hook with a lower weight (so it exists before
    // the Job in every install and upgrade); one the chart does not render is yours and exists independently.
    const problems: string[] = [];
    const requireHook = (kind: string, name: string) => {
      const found = rendered(kind, name);
      if (found.length === 0) return;
      const good = found.some((o) => hookOf(o) === hookOf(job) && weightOf(o) < weightOf(job));
      if (!good) problems.push(`${kind}/${name}: rendered as ${found.map((o) => hookOf(o) ?? 'a release object').join(', ')} (weight ${found.map(weightOf).join(', ')})`);
    };
    for (const name of needs.secrets.keys()) requireHook('Secret', name);
    for (const name of needs.configMaps) requireHook('ConfigMap', name);
    requireHook('ServiceAccount', needs.serviceAccount);
    // A NetworkPolicy that selects the Job's pods comes with it too (an old one of the release would hold the old
    // release's egress).
    const podLabels = job.spec.template.metadata.labels;
    for (const policy of find(objects, 'NetworkPolicy').filter((p) => selects(p.spec.podSelector, podLabels))) requireHook('NetworkPolicy', policy.metadata.name);
    expect(problems).toEqual([]);
    // And nothing outlives its revision (a kept object breaks rollbacks across these toggles).
    expect(objects.filter((o) => o.metadata.annotations?.['helm.sh/resource-policy'] !== undefined).map(key)).toEqual([]);
    return job;
  };

  it.each(valueSets())('with %s', (file) => {
    check(renderChart([file]));
  });

  it.each(toggles.map(([name, , after]) => [name, after] as const))('with the values after "%s"', (_name, after) => {
    const job = check(renderChart([], after));
    // A chart-made password reaches the Job through its own hook Secret.
    const password = (job.spec.template.spec.containers[0].env as any[]).find((e) => e.name === 'DATABASE_PASSWORD');
    if (password) expect(['team-db', 'team-pg', `${fullname}-migrate`]).toContain(password.valueFrom.secretKeyRef.name);
  });

  it('the hook Secret holds the very password the bundled PostgreSQL is initialised with, generated or given', () => {
    for (const set of [[], ['postgresql.auth.password=GivenPassw0rd']]) {
      const objects = renderChart([], set);
      const decode = (suffix: string) => Buffer.from(one(objects, 'Secret', suffix).data!.password!, 'base64').toString();
      expect(decode('-migrate')).toBe(decode('-postgresql'));
      if (set.length) expect(decode('-migrate')).toBe('GivenPassw0rd');
    }
    const external = renderChart([], externalPassword);
    expect(Buffer.from(one(external, 'Secret', '-migrate').data!.password!, 'base64').toString()).toBe('ExternalPassw0rd');
    expect(find(renderChart([], externalSecret), 'Secret', '-migrate')).toHaveLength(0);
  });

  it('the hook ServiceAccount carries the ingress ServiceAccount annotations and mounts no token', () => {
    const objects = renderChart([], ['ingress.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::1:role/x']);
    const account = one(objects, 'ServiceAccount', '-migrate');
    expect(account.metadata.annotations).toMatchObject({ 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/x', 'helm.sh/hook': 'post-install,pre-upgrade' });
    expect(account.automountServiceAccountToken).toBe(false);
    expect(podSpecOf(one(objects, 'Job', '-migrate')).serviceAccountName).toBe(account.metadata.name);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Helm's order, simulated.

function egressAllowed(policies: K8sObject[], from: Record<string, string>, port: number, to?: Record<string, string>): boolean {
  const applying = policies.filter((p) => (p.spec.policyTypes ?? []).includes('Egress') && selects(p.spec.podSelector, from));
  if (applying.length === 0) return true;
  return applying.some((policy) =>
    (policy.spec.egress ?? []).some(
      (rule: any) =>
        (!rule.ports?.length || rule.ports.some((p: any) => p.port === port && (p.protocol ?? 'TCP') === 'TCP')) &&
        (!rule.to?.length || (to !== undefined && rule.to.some((peer: any) => peer.podSelector && !peer.namespaceSelector && selects(peer.podSelector, to)))),
    ),
  );
}

function ingressAllowed(policies: K8sObject[], target: Record<string, string>, ports: Array<number | string>, from: Record<string, string>): boolean {
  const applying = policies.filter((p) => (p.spec.policyTypes ?? ['Ingress']).includes('Ingress') && selects(p.spec.podSelector, target));
  if (applying.length === 0) return true;
  return applying.some((policy) =>
    (policy.spec.ingress ?? []).some(
      (rule: any) =>
        (!rule.ports?.length || rule.ports.some((p: any) => ports.includes(p.port))) &&
        (!rule.from?.length || rule.from.some((peer: any) => peer.podSelector && !peer.namespaceSelector && selects(peer.podSelector, from))),
    ),
  );
}

/** `helm upgrade` from `before` to `after`: what exists when Helm starts the migration Job, and whether it can run. */
async function upgrade(before: string[], after: string[]) {
  // The old release's objects, live (an install's render: its hook objects are gone, deleted once they succeeded).
  const old = renderChart([], before).filter((o) => !hookOf(o));
  const run = await renderAgainstCluster([...old, ...outside], [], after, ['--is-upgrade']);
  if (run.status !== 0) throw new Error(`helm upgrade render failed: ${run.stderr}`);
  const job = one(run.objects, 'Job', '-migrate');
  const phase = phasesOf(job).includes('pre-upgrade') ? 'pre-upgrade' : 'post-upgrade';
  expect(phasesOf(job)).toContain(phase);
  const hooksBefore = run.objects.filter((o) => phasesOf(o).includes(phase) && o !== job && weightOf(o) < weightOf(job));
  // pre-upgrade: the old release's objects; post-upgrade: the new release's (the old ones it dropped are deleted).
  const release = phase === 'pre-upgrade' ? old : run.objects.filter((o) => !hookOf(o));
  const world = [...release, ...outside, ...hooksBefore];
  const has = (kind: string, name: string) => world.find((o) => o.kind === kind && o.metadata.name === name);

  const missing: string[] = [];
  const needs = needsOf(job);
  for (const [name, keys] of needs.secrets) {
    const secret = has('Secret', name);
    if (!secret) missing.push(`Secret/${name}`);
    for (const k of keys) if (secret && !(k in (secret.data ?? {})) && !(k in (secret.stringData ?? {}))) missing.push(`Secret/${name} key ${k}`);
  }
  for (const name of needs.configMaps) if (!has('ConfigMap', name)) missing.push(`ConfigMap/${name}`);
  if (!has('ServiceAccount', needs.serviceAccount)) missing.push(`ServiceAccount/${needs.serviceAccount}`);

  // The database the Job's DATABASE_URL names must be there and reachable through the NetworkPolicies in force.
  const url = new URL((job.spec.template.spec.containers[0].env as any[]).find((e) => e.name === 'DATABASE_URL').value.replace('$(DATABASE_PASSWORD)', 'x'));
  const port = Number(url.port || 5432);
  const jobLabels = job.spec.template.metadata.labels;
  const netpols = find(world, 'NetworkPolicy');
  let databaseLabels: Record<string, string> | undefined;
  if (url.hostname === `${fullname}-postgresql`) {
    const service = has('Service', url.hostname);
    const statefulSet = has('StatefulSet', url.hostname);
    if (!service || !statefulSet) missing.push(`the bundled PostgreSQL (Service ${service ? 'present' : 'missing'}, StatefulSet ${statefulSet ? 'present' : 'missing'})`);
    databaseLabels = statefulSet?.spec.template.metadata.labels;
    if (databaseLabels && !ingressAllowed(netpols, databaseLabels, [port, 'postgresql'], jobLabels)) missing.push('ingress to PostgreSQL from the Job');
  } else {
    expect(url.hostname).toBe(externalHost);
  }
  if (!egressAllowed(netpols, jobLabels, port, databaseLabels)) missing.push(`egress to the database on ${port}`);
  if (!egressAllowed(netpols, jobLabels, 53)) missing.push('DNS');
  return { phase, missing, job, objects: run.objects };
}

describe('each toggle as one `helm upgrade`: the Job finds what it needs when Helm starts it (simulated hook order)', () => {
  it.each(toggles)('%s', async (name, before, after) => {
    const { phase, missing } = await upgrade(before, after);
    expect({ toggle: name, missing }).toEqual({ toggle: name, missing: [] });
    // Pre-upgrade (the schema before new pods roll out), except when the bundled PostgreSQL comes with this upgrade.
    const bringsBundled = after.every((s) => !s.startsWith('postgresql.enabled=false')) && before.some((s) => s === 'postgresql.enabled=false');
    expect({ toggle: name, phase }).toEqual({ toggle: name, phase: bringsBundled ? 'post-upgrade' : 'pre-upgrade' });
  });

  it('external -> bundled: every hook object moves to post-upgrade with the Job (its Service, password and pods exist only then)', async () => {
    const { objects } = await upgrade([...externalPassword, ...policies], policies);
    const hooks = objects.filter((o) => hookOf(o) && hookOf(o) !== 'test');
    expect(hooks.map(key).sort()).toEqual(
      ['Job', 'NetworkPolicy', 'Secret', 'ServiceAccount'].map((kind) => `${kind}/${fullname}-migrate`).sort(),
    );
    for (const hook of hooks) expect({ hook: key(hook), phase: hookOf(hook) }).toEqual({ hook: key(hook), phase: 'post-upgrade' });
  });

  it('`helm template` (no cluster, an install) renders the usual post-install,pre-upgrade', () => {
    expect(hookOf(one(renderChart([], []), 'Job', '-migrate'))).toBe('post-install,pre-upgrade');
  });
});
