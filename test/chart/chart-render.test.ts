import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  chartDir,
  find,
  one,
  podSpecOf,
  podTemplateOf,
  releaseName,
  releaseNamespace,
  renderChart,
  repoRoot,
  runHelm,
  selects,
  templateArgs,
  valueSets,
  valuesDir,
  type K8sObject,
} from './helm.js';
import { schemaError } from './models.js';

/**
 * Renders the chart once per value set in test/chart/values/ (plus k8s/examples/values-production.yaml) and checks
 * every object against its Kubernetes / KEDA / Prometheus Operator schema, then the chart's own promises.
 */

const productionExample = path.resolve(chartDir, '../../k8s/examples/values-production.yaml');
const sets = [...valueSets(), productionExample];
const label = (set: string) => path.basename(set);
const rendered = new Map<string, K8sObject[]>();
const objectsOf = (set: string): K8sObject[] => {
  const objects = rendered.get(label(set));
  if (!objects) throw new Error(`value set ${set} was not rendered`);
  return objects;
};

const fullname = `${releaseName}-event-integration-service`;
const appComponents = ['ingress', 'worker'];

beforeAll(() => {
  for (const set of sets) rendered.set(label(set), renderChart([set]));
});

describe('helm lint', () => {
  it.each(sets.map(label))('passes `helm lint --strict` with %s', (name) => {
    const file = sets.find((set) => label(set) === name)!;
    const run = runHelm(['lint', '--strict', chartDir, '-f', path.isAbsolute(file) ? file : path.join(valuesDir, file)]);
    expect(`${run.stdout}${run.stderr}`).toContain('0 chart(s) failed');
    expect(run.status).toBe(0);
  });
});

describe.each(sets.map(label))('rendered with %s', (name) => {
  const objects = () => objectsOf(name);

  it('validates every object against its schema (and knows a model for every kind)', async () => {
    expect(objects().length).toBeGreaterThan(5);
    const errors: string[] = [];
    for (const object of objects()) {
      const error = await schemaError(object);
      if (error) errors.push(error);
    }
    expect(errors).toEqual([]);
  });

  it('gives every object a unique kind/name, the release namespace (or a configured one) and the chart labels', () => {
    const keys = objects().map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const object of objects()) {
      expect(object.metadata.name.length).toBeLessThanOrEqual(63);
      expect(object.metadata.labels?.['app.kubernetes.io/instance']).toBe(releaseName);
      expect(object.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
      if (!['ConfigMap', 'ServiceMonitor', 'PrometheusRule'].includes(object.kind)) {
        expect(object.metadata.namespace).toBe(releaseNamespace);
      }
    }
  });

  it('has an ingress and a worker Deployment whose selectors pick only their own pods', () => {
    const deployments = find(objects(), 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([`${fullname}-ingress`, `${fullname}-worker`]);
    const podLabels = [...find(objects(), 'Deployment'), ...find(objects(), 'StatefulSet'), ...find(objects(), 'Job')].map(
      (workload) => ({ name: workload.metadata.name, labels: podTemplateOf(workload).metadata.labels as Record<string, string> }),
    );
    for (const deployment of deployments) {
      const matching = podLabels.filter((pod) => selects(deployment.spec.selector, pod.labels));
      expect(matching.map((pod) => pod.name)).toEqual([deployment.metadata.name]);
    }
  });

  it('routes every Service to exactly one workload, on a port the pods declare', () => {
    const workloads = [...find(objects(), 'Deployment'), ...find(objects(), 'StatefulSet')];
    for (const service of find(objects(), 'Service')) {
      const targets = workloads.filter((w) => selects(service.spec.selector, podTemplateOf(w).metadata.labels));
      expect({ service: service.metadata.name, targets: targets.length }).toEqual({ service: service.metadata.name, targets: 1 });
      const containerPorts = podSpecOf(targets[0]!).containers.flatMap((c: any) => c.ports ?? []);
      for (const port of service.spec.ports) {
        expect(containerPorts.some((p: any) => p.name === port.targetPort || p.containerPort === port.targetPort)).toBe(true);
      }
    }
  });

  it('gives each PodDisruptionBudget a selector that matches one Deployment', () => {
    for (const pdb of find(objects(), 'PodDisruptionBudget')) {
      const targets = find(objects(), 'Deployment').filter((d) => selects(pdb.spec.selector, podTemplateOf(d).metadata.labels));
      expect(targets).toHaveLength(1);
      expect('minAvailable' in pdb.spec && 'maxUnavailable' in pdb.spec).toBe(false);
    }
  });

  it('lets Prometheus (networkPolicy.metricsFrom) reach every pod the ServiceMonitor scrapes, on the scraped port', () => {
    const monitor = find(objects(), 'ServiceMonitor')[0];
    const policies = find(objects(), 'NetworkPolicy');
    if (!monitor || policies.length === 0) return;
    const values = parseYaml(readFileSync(name === 'values-production.yaml' ? productionExample : path.join(valuesDir, name), 'utf8')) ?? {};
    const metricsFrom: any[] = values?.networkPolicy?.metricsFrom ?? [];
    // Empty metricsFrom promises "every namespace", which only a rule without `from` or with an empty selector keeps.
    const scrapers = metricsFrom.length > 0 ? metricsFrom : [{ namespaceSelector: {} }];
    const services = find(objects(), 'Service').filter((s) => selects(monitor.spec.selector, s.metadata.labels ?? {}));
    expect(services.length).toBeGreaterThan(0);
    for (const service of services) {
      const deployment = one(find(objects(), 'Deployment').filter((d) => selects(service.spec.selector, podTemplateOf(d).metadata.labels)), 'Deployment');
      const podLabels = podTemplateOf(deployment).metadata.labels;
      for (const endpoint of monitor.spec.endpoints) {
        const targetPort = service.spec.ports.find((p: any) => p.name === endpoint.port)?.targetPort;
        expect(targetPort).toBeDefined();
        const admitted = policies
          .filter((policy) => selects(policy.spec.podSelector, podLabels))
          .flatMap((policy) => policy.spec.ingress ?? [])
          .filter((rule: any) => !rule.ports || rule.ports.some((p: any) => p.port === targetPort))
          .some((rule: any) => !rule.from || scrapers.every((peer) => rule.from.some((from: any) => JSON.stringify(from) === JSON.stringify(peer))));
        expect({ pods: deployment.metadata.name, port: targetPort, admitted }).toEqual({ pods: deployment.metadata.name, port: targetPort, admitted: true });
      }
    }
  });

  it('references only Secrets it renders or that the values name as existing', () => {
    const renderedSecrets = new Set(find(objects(), 'Secret').map((s) => s.metadata.name));
    const values = name === 'values-production.yaml' ? parseYaml(readFileSync(productionExample, 'utf8')) : parseYaml(readFileSync(path.join(valuesDir, name), 'utf8')) ?? {};
    const existing = new Set<string>(
      [
        values?.secrets?.existingSecret,
        values?.configFiles?.existingSecret,
        values?.externalDatabase?.existingSecret,
        values?.externalRedis?.existingSecret,
        values?.postgresql?.auth?.existingSecret,
        values?.redis?.auth?.existingSecret,
      ].filter(Boolean),
    );
    const referenced: Array<{ name: string; optional: boolean }> = [];
    for (const object of objects()) {
      const spec = podSpecOf(object);
      if (!spec) continue;
      for (const container of spec.containers) {
        for (const env of container.env ?? []) {
          const ref = env.valueFrom?.secretKeyRef;
          if (ref) referenced.push({ name: ref.name, optional: ref.optional === true });
        }
      }
      for (const volume of spec.volumes ?? []) if (volume.secret) referenced.push({ name: volume.secret.secretName, optional: false });
    }
    for (const auth of find(objects(), 'TriggerAuthentication')) {
      for (const ref of auth.spec.secretTargetRef ?? []) referenced.push({ name: ref.name, optional: false });
    }
    for (const ref of referenced) {
      expect({ secret: ref.name, known: renderedSecrets.has(ref.name) || existing.has(ref.name) }).toEqual({ secret: ref.name, known: true });
    }
  });

  it('runs every service-image container restricted: non-root, read-only root, no privilege escalation, no capabilities', () => {
    for (const object of objects()) {
      const spec = podSpecOf(object);
      if (!spec) continue;
      expect(spec.securityContext?.runAsNonRoot).toBe(true);
      expect(spec.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
        const context = container.securityContext ?? {};
        const where = `${object.kind}/${object.metadata.name}/${container.name}`;
        expect({ where, allowPrivilegeEscalation: context.allowPrivilegeEscalation }).toEqual({ where, allowPrivilegeEscalation: false });
        expect({ where, drop: context.capabilities?.drop }).toEqual({ where, drop: ['ALL'] });
        expect({ where, readOnlyRootFilesystem: context.readOnlyRootFilesystem }).toEqual({ where, readOnlyRootFilesystem: true });
        expect(context.privileged ?? false).toBe(false);
        // A writable /tmp, since the root filesystem is read-only.
        const tmp = (container.volumeMounts ?? []).find((m: any) => m.mountPath === '/tmp');
        expect({ where, tmp: Boolean(tmp) }).toEqual({ where, tmp: true });
        const volume = (spec.volumes ?? []).find((v: any) => v.name === tmp.name);
        expect(volume?.emptyDir).toBeDefined();
        expect(container.resources?.requests).toBeDefined();
        expect(container.resources?.limits?.memory).toBeDefined();
      }
    }
  });

  it('mounts a service-account token only into the worker (pod-deletion-cost), with a Role to patch pods', () => {
    for (const object of objects()) {
      const spec = podSpecOf(object);
      if (!spec) continue;
      const isWorker = object.kind === 'Deployment' && object.metadata.name === `${fullname}-worker`;
      expect({ pod: object.metadata.name, token: spec.automountServiceAccountToken }).toEqual({ pod: object.metadata.name, token: isWorker });
    }
    for (const account of find(objects(), 'ServiceAccount')) expect(account.automountServiceAccountToken).toBe(false);

    const worker = one(objects(), 'Deployment', '-worker');
    const role = one(objects(), 'Role');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] }]);
    const binding = one(objects(), 'RoleBinding');
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: worker.spec.template.spec.serviceAccountName, namespace: releaseNamespace },
    ]);
    const env = worker.spec.template.spec.containers[0].env as any[];
    expect(env.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
  });

  it('lets no KEDA prometheus trigger read an empty result as 0 (ignoreNullValues "false"), with a fallback that runs workers meanwhile', () => {
    for (const scaled of find(objects(), 'ScaledObject')) {
      for (const trigger of scaled.spec.triggers.filter((t: any) => t.type === 'prometheus')) {
        // KEDA's default, when the key is absent, is "true".
        expect(trigger.metadata.ignoreNullValues).toBe('false');
        // KEDA applies a fallback only to AverageValue metrics.
        expect(trigger.metricType).toBe('AverageValue');
        expect(scaled.spec.fallback?.failureThreshold).toBeGreaterThanOrEqual(1);
        expect(scaled.spec.fallback?.replicas).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('runs migrations as a post-install,pre-upgrade hook Job that replaces itself, is deleted on success and ends before Helm stops waiting', () => {
    const job = one(objects(), 'Job', '-migrate');
    expect(job.metadata.annotations).toMatchObject({
      'helm.sh/hook': 'post-install,pre-upgrade',
      'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
    });
    // Helm waits for hook Jobs up to --timeout (5m by default): the Job's own deadline ends it first, so Helm reports
    // the Job's failure and nothing migrates on after Helm gave up (or rolled back, with --rollback-on-failure).
    expect(job.spec.activeDeadlineSeconds).toBeLessThan(300);
    const container = job.spec.template.spec.containers[0];
    expect(container.args).toEqual(['dist/services/migrate.js']);
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    expect(job.spec.backoffLimit).toBeGreaterThan(0);
    const env = (container.env as any[]).map((e) => e.name);
    expect(env).toContain('DATABASE_URL');
    expect(env).not.toContain('SERVICE_ROLE');
  });

  it('has a `helm test` Pod that checks readiness through the ingress Service, deleted when it passes', () => {
    const pod = one(objects(), 'Pod');
    expect(pod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    // Hook objects are not part of the release: `helm uninstall` never deletes them. A passing test's Pod goes at
    // once; a failing one stays for `kubectl logs` until the next `helm test` replaces it.
    expect(pod.metadata.annotations?.['helm.sh/hook-delete-policy']).toBe('before-hook-creation,hook-succeeded');
    const container = pod.spec.containers[0];
    expect(container.args[0]).toBe('-e');
    expect(container.args[1]).toContain('/health/ready');
    const baseUrl = container.env.find((e: any) => e.name === 'EIS_TEST_BASE_URL').value as string;
    const service = one(objects(), 'Service', '-ingress');
    expect(baseUrl).toBe(`http://${service.metadata.name}.${releaseNamespace}.svc:${service.spec.ports[0].port}`);
  });

  it('keeps nothing behind on uninstall or a bundled/external switch: no object carries helm.sh/resource-policy keep', () => {
    // A kept object outlives its release revision: `helm rollback` across a bundled -> external switch then finds it
    // in the cluster but not in the release ("original object Secret ... not found") and fails, and uninstall orphans it.
    const kept = objects().filter((o) => o.metadata.annotations?.['helm.sh/resource-policy'] !== undefined).map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kept).toEqual([]);
  });

  it('rolls pods when chart-rendered secrets or config files change (checksum annotations)', () => {
    for (const deployment of find(objects(), 'Deployment')) {
      const annotations = deployment.spec.template.metadata.annotations ?? {};
      expect(annotations['checksum/secrets']).toMatch(/^[a-f0-9]{64}$/);
      expect(annotations['checksum/config-files']).toMatch(/^[a-f0-9]{64}$/);
    }
  });
});

describe('value-set specifics', () => {
  it('defaults: bundled PostgreSQL and Redis with PVCs, fixed replicas, generated alphanumeric passwords', () => {
    const objects = objectsOf('defaults.yaml');
    const postgres = one(objects, 'StatefulSet', '-postgresql');
    expect(postgres.spec.template.spec.containers[0].image).toBe('postgres:16');
    expect(postgres.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('8Gi');
    const redis = one(objects, 'StatefulSet', '-redis');
    expect(redis.spec.template.spec.containers[0].image).toBe('redis:7');
    const args = redis.spec.template.spec.containers[0].args as string[];
    expect(args.join(' ')).toContain('--maxmemory-policy noeviction');
    expect(args.join(' ')).toContain('--appendonly yes');
    // The password goes to redis-server on stdin, not on its command line (test/chart/redis-password.test.ts).
    expect(args.join(' ')).not.toContain('requirepass');
    expect(redis.spec.template.spec.containers[0].command[2]).toContain('exec redis-server - "$@" <<EOF');
    for (const suffix of ['-postgresql', '-redis']) {
      const secret = one(objects, 'Secret', suffix);
      for (const value of Object.values(secret.data ?? {})) {
        expect(Buffer.from(value, 'base64').toString('utf8')).toMatch(/^[A-Za-z0-9]{32}$/);
      }
    }
    expect(one(objects, 'Deployment', '-ingress').spec.replicas).toBe(2);
    expect(one(objects, 'Deployment', '-worker').spec.replicas).toBe(2);
    expect(find(objects, 'ScaledObject')).toHaveLength(0);
    expect(find(objects, 'HorizontalPodAutoscaler')).toHaveLength(0);
    expect(find(objects, 'NetworkPolicy')).toHaveLength(0);
    expect(find(objects, 'Ingress')).toHaveLength(0);
    const appSecret = one(objects, 'Secret', 'event-integration-service');
    expect(Object.keys(appSecret.data ?? {})).toEqual(['ADMIN_API_TOKEN']);
  });

  it('external services: URLs point at the external hosts, passwords come from the existing Secrets, nothing bundled', () => {
    const objects = objectsOf('external-services.yaml');
    expect(find(objects, 'StatefulSet')).toHaveLength(0);
    // Only the preStop hook's token, which the chart needs to render the hook (test/chart/prestop-token.test.ts).
    expect(find(objects, 'Secret').map((secret) => secret.metadata.name)).toEqual([`${fullname}-prestop`]);
    const env = one(objects, 'Deployment', '-worker').spec.template.spec.containers[0].env as any[];
    const byName = Object.fromEntries(env.map((e) => [e.name, e]));
    expect(byName.DATABASE_PASSWORD.valueFrom.secretKeyRef).toEqual({ name: 'webhooks-db', key: 'db-password' });
    expect(byName.DATABASE_URL.value).toBe(
      'postgresql://webhooks_app:$(DATABASE_PASSWORD)@webhooks.cluster-abc.eu-west-1.rds.amazonaws.com:5432/webhooks?sslmode=require',
    );
    expect(byName.REDIS_PASSWORD.valueFrom.secretKeyRef).toEqual({ name: 'webhooks-redis', key: 'auth-token' });
    expect(byName.REDIS_URL.value).toBe('rediss://:$(REDIS_PASSWORD)@webhooks.abc.cache.amazonaws.com:6380/2');
    expect(byName.STRIPE_WEBHOOK_SECRET.valueFrom.secretKeyRef).toMatchObject({ name: 'webhooks-provider-secrets', optional: true });
    expect(byName.PROVIDERS_FILE.value).toBe('/etc/event-integration-service/providers.yaml');
    expect(byName.ROUTES_FILE.value).toBe('/etc/event-integration-service/routes.yaml');
  });

  it('KEDA (prometheus): the worker has no fixed replicas; the ScaledObject targets it with the configured bounds', () => {
    const objects = objectsOf('keda-prometheus.yaml');
    const worker = one(objects, 'Deployment', '-worker');
    expect(worker.spec.replicas).toBeUndefined();
    expect(one(objects, 'Deployment', '-ingress').spec.replicas).toBe(2);
    const scaled = one(objects, 'ScaledObject');
    expect(scaled.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: worker.metadata.name });
    expect(scaled.spec).toMatchObject({ minReplicaCount: 2, maxReplicaCount: 30, fallback: { failureThreshold: 3, replicas: 4 } });
    const scaleDown = scaled.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown;
    expect(scaleDown.stabilizationWindowSeconds).toBe(300);
    expect(scaleDown.policies[0].type).toBe('Percent');
    const [trigger] = scaled.spec.triggers;
    expect(trigger.type).toBe('prometheus');
    expect(trigger.metricType).toBe('AverageValue');
    expect(trigger.metadata.serverAddress).toBe('http://prometheus-operated.monitoring.svc:9090');
    expect(trigger.metadata.threshold).toBe('64');
    expect(trigger.metadata.query).toBe(
      `sum(max by (state) (webhook_queue_jobs{namespace="${releaseNamespace}",queue="webhook-events",state=~"waiting|prioritized|active"}))`,
    );
  });

  it('KEDA (prometheus): providers and routes become files in a Secret, mounted where PROVIDERS_FILE / ROUTES_FILE point', () => {
    const objects = objectsOf('keda-prometheus.yaml');
    const files = one(objects, 'Secret', '-files');
    const providers = parseYaml(files.stringData!['providers.yaml']!);
    expect(Object.keys(providers.providers).sort()).toEqual(['acme', 'shop']);
    expect(providers.providers.acme.type).toBe('standard-webhooks');
    const routes = parseYaml(files.stringData!['routes.yaml']!);
    expect(routes.routes[0]).toEqual({ provider: 'stripe', events: ['invoice.*', 'charge.succeeded'], to: ['billing'] });
    expect(routes.destinations.billing.url).toBe('http://billing.internal/hooks');

    for (const deployment of find(objects, 'Deployment')) {
      const spec = deployment.spec.template.spec;
      const container = spec.containers[0];
      const env = Object.fromEntries((container.env as any[]).map((e) => [e.name, e.value]));
      const mount = container.volumeMounts.find((m: any) => m.name === 'config-files');
      const volume = spec.volumes.find((v: any) => v.name === 'config-files');
      expect(volume.secret.secretName).toBe(files.metadata.name);
      expect(env.PROVIDERS_FILE).toBe(`${mount.mountPath}/providers.yaml`);
      expect(env.ROUTES_FILE).toBe(`${mount.mountPath}/routes.yaml`);
    }
    const appSecret = one(objects, 'Secret', 'event-integration-service');
    expect(Buffer.from(appSecret.data!.STRIPE_WEBHOOK_SECRET!, 'base64').toString()).toBe('whsec_test_secret');
    expect(Buffer.from(appSecret.data!.GITHUB_WEBHOOK_SECRET!, 'base64').toString()).toBe('gh-secret-1,gh-secret-2');
  });

  it('KEDA (redis): the trigger measures BullMQ’s wait list of the configured queue, authenticated by the Redis Secret', () => {
    const objects = objectsOf('keda-redis.yaml');
    expect(one(objects, 'Deployment', '-worker').spec.replicas).toBeUndefined();
    const scaled = one(objects, 'ScaledObject');
    const [trigger] = scaled.spec.triggers;
    expect(trigger.type).toBe('redis');
    expect(trigger.metadata).toMatchObject({
      // KEDA's operator resolves it from its own namespace: the Service's namespaced name, not its short one.
      address: `${fullname}-redis.${releaseNamespace}.svc:6379`,
      listName: 'eis:orders-webhooks:wait',
      listLength: '100',
      databaseIndex: '0',
    });
    const auth = one(objects, 'TriggerAuthentication');
    expect(trigger.authenticationRef).toEqual({ name: auth.metadata.name });
    expect(auth.spec.secretTargetRef).toEqual([{ parameter: 'password', name: `${fullname}-redis`, key: 'redis-password' }]);
  });

  it('KEDA (redis): tracing settings reach both roles', () => {
    const objects = objectsOf('keda-redis.yaml');
    for (const role of appComponents) {
      const env = Object.fromEntries((one(objects, 'Deployment', `-${role}`).spec.template.spec.containers[0].env as any[]).map((e) => [e.name, e.value]));
      expect(env.OTEL_SDK_DISABLED).toBe('false');
      expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector.observability.svc:4317');
      expect(env.OTEL_SERVICE_NAME).toBe(`${fullname}-${role}`);
      expect(env.OTEL_RESOURCE_ATTRIBUTES).toContain('deployment.environment=staging');
    }
  });

  it('monitoring: a ServiceMonitor scraping both roles, the PrometheusRule from files/alerts, the dashboards ConfigMap', () => {
    const objects = objectsOf('monitoring.yaml');
    const monitor = one(objects, 'ServiceMonitor');
    expect(monitor.metadata.labels?.release).toBe('kube-prometheus-stack');
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: [releaseNamespace] });
    const scraped = find(objects, 'Service').filter((s) => selects(monitor.spec.selector, s.metadata.labels ?? {}));
    expect(scraped.map((s) => s.metadata.name).sort()).toEqual([`${fullname}-ingress`, `${fullname}-worker`]);
    for (const service of scraped) expect(service.spec.ports.map((p: any) => p.name)).toContain(monitor.spec.endpoints[0].port);

    const rule = one(objects, 'PrometheusRule');
    const file = parseYaml(readFileSync(path.join(chartDir, 'files/alerts/rules.yaml'), 'utf8'));
    // The same rules, with each runbook_url under metrics.prometheusRule.runbookBaseUrl, then the template's own
    // group of alerts on the release's scrape targets (test/observability/target-absent-alerts.test.ts).
    const groups = rule.spec.groups.filter((group: any) => group.name !== 'event-integration-service-targets');
    expect(groups.length).toBe(rule.spec.groups.length - 1);
    const runbookUrls = (groups: any[]) => groups.flatMap((group) => group.rules.map((r: any) => r.annotations?.runbook_url).filter(Boolean));
    const fileUrls = runbookUrls(file.groups);
    expect(fileUrls.length).toBeGreaterThan(0);
    expect(runbookUrls(groups)).toEqual(fileUrls.map((url: string) => url.replace('docs/runbooks.md', 'https://docs.example.com/webhooks/runbooks.md')));
    const withoutRunbooks = (groups: any[]) =>
      groups.map((group) => ({ ...group, rules: group.rules.map((r: any) => ({ ...r, annotations: { ...r.annotations, runbook_url: undefined } })) }));
    expect(withoutRunbooks(groups)).toEqual(withoutRunbooks(file.groups));
    expect(rule.metadata.labels?.release).toBe('kube-prometheus-stack');

    const dashboards = one(objects, 'ConfigMap', '-dashboards');
    expect(dashboards.metadata.namespace).toBe('monitoring');
    expect(dashboards.metadata.labels?.grafana_dashboard).toBe('1');
    expect(dashboards.metadata.annotations?.grafana_folder).toBe('Webhooks');
    const json = dashboards.data!['event-integration-service.json']!;
    expect(JSON.parse(json)).toEqual(JSON.parse(readFileSync(path.join(chartDir, 'files/dashboards/event-integration-service.json'), 'utf8')));

    for (const deployment of find(objects, 'Deployment')) {
      expect(deployment.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '3000' });
    }
  });

  it('networking: policies for every component, an Ingress exposing only /webhooks, a CPU HPA for the ingress role', () => {
    const objects = objectsOf('networking.yaml');
    const policies = find(objects, 'NetworkPolicy');
    const podsOf = (policy: K8sObject) =>
      [...find(objects, 'Deployment'), ...find(objects, 'StatefulSet'), ...find(objects, 'Job')]
        .filter((w) => selects(policy.spec.podSelector, podTemplateOf(w).metadata.labels))
        .map((w) => podTemplateOf(w).metadata.labels['app.kubernetes.io/component']);
    expect(policies.flatMap(podsOf).sort()).toEqual(['ingress', 'migrations', 'postgresql', 'redis', 'worker']);

    const ingressPolicy = one(objects, 'NetworkPolicy', '-ingress');
    expect(ingressPolicy.spec.ingress[0].ports).toEqual([{ port: 'http', protocol: 'TCP' }]);
    expect(ingressPolicy.spec.ingress[0].from[0]).toEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } });
    // /metrics is served on the ingress's HTTP port too: metricsFrom is admitted there next to ingressFrom.
    expect(ingressPolicy.spec.ingress[0].from).toContainEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } });
    const workerPolicy = one(objects, 'NetworkPolicy', '-worker');
    expect(workerPolicy.spec.ingress).toEqual([
      { ports: [{ port: 'http', protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
    ]);
    // allowExternalEgress=false: no allow-all rule, but the extra rule is there.
    expect(workerPolicy.spec.egress).not.toContainEqual({});
    expect(workerPolicy.spec.egress).toContainEqual({ to: [{ ipBlock: { cidr: '10.20.0.0/16' } }], ports: [{ port: 443, protocol: 'TCP' }] });
    // KEDA's redis scaler may reach the bundled Redis.
    const redisPolicy = one(objects, 'NetworkPolicy', '-redis');
    expect(redisPolicy.spec.ingress[0].from).toContainEqual({
      namespaceSelector: {},
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'keda-operator' } },
    });

    const ingress = one(objects, 'Ingress');
    expect(ingress.spec.ingressClassName).toBe('nginx');
    const paths = ingress.spec.rules.flatMap((rule: any) => rule.http.paths);
    expect(paths).toEqual([
      { path: '/webhooks', pathType: 'Prefix', backend: { service: { name: `${fullname}-ingress`, port: { name: 'http' } } } },
    ]);

    // Behind the controller, clients are told apart by X-Forwarded-For: the ingress trusts the private ranges.
    const envOf = (name: string) => Object.fromEntries(podSpecOf(one(objects, 'Deployment', name)).containers[0].env.map((e: any) => [e.name, e.value]));
    expect(envOf('-ingress').TRUST_PROXY).toBe('loopback, linklocal, uniquelocal');
    expect(envOf('-worker')).not.toHaveProperty('TRUST_PROXY');

    const hpa = one(objects, 'HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef.name).toBe(`${fullname}-ingress`);
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 12 });
    expect(hpa.spec.metrics[0].resource).toEqual({ name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } });
    expect(one(objects, 'Deployment', '-ingress').spec.replicas).toBeUndefined();
    expect(one(objects, 'PodDisruptionBudget', '-ingress').spec.minAvailable).toBe(2);
  });
});

describe('the docs', () => {
  it('name, in kubectl commands, only objects the chart renders (for <release> and <fullname>)', () => {
    const docs = ['README.md', 'k8s/README.md', 'charts/event-integration-service/README.md', ...readdirSync(path.join(repoRoot, 'docs'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const kinds: Record<string, string> = { deploy: 'Deployment', deployment: 'Deployment', svc: 'Service', service: 'Service', job: 'Job', sts: 'StatefulSet', statefulset: 'StatefulSet', secret: 'Secret', pvc: 'PersistentVolumeClaim' };
    const objects = objectsOf('defaults.yaml');
    const names = new Map<string, Set<string>>();
    for (const object of objects) names.set(object.kind, (names.get(object.kind) ?? new Set()).add(object.metadata.name));
    // The PVCs come from the StatefulSets' volumeClaimTemplates: <template>-<statefulset>-<ordinal>.
    for (const set of objects.filter((o) => o.kind === 'StatefulSet')) {
      for (const template of set.spec.volumeClaimTemplates ?? []) names.set('PersistentVolumeClaim', (names.get('PersistentVolumeClaim') ?? new Set()).add(`${template.metadata.name}-${set.metadata.name}-0`));
    }
    // <fullname>, as the docs write it: the name every object of the chart starts with (the ingress Deployment's, less its role).
    const fullname = objects.find((o) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === 'ingress')!.metadata.name.replace(/-ingress$/, '');
    const referenced: Array<{ doc: string; ref: string; rendered: boolean }> = [];
    for (const doc of docs) {
      for (const match of readFileSync(path.join(repoRoot, doc), 'utf8').matchAll(/\b(deploy|deployment|svc|service|job|sts|statefulset|secret|pvc)[/ ](data-)?<(release|fullname)>(-[\w.-]*\w)?(?![\w>-])/g)) {
        const name = `${match[2] ?? ''}${match[3] === 'release' ? releaseName : fullname}${match[4] ?? ''}`;
        referenced.push({ doc, ref: match[0], rendered: names.get(kinds[match[1]!]!)?.has(name) ?? false });
      }
    }
    expect(referenced.filter((r) => r.ref.startsWith('pvc') || r.ref.startsWith('secret')).length).toBeGreaterThanOrEqual(3);
    expect(referenced.filter((r) => !r.rendered)).toEqual([]);
  });
});

describe('values.yaml', () => {
  /** The Helm values table of the service's public contract (names platform teams rely on). */
  const contractKeys = [
    'image.repository',
    'image.tag',
    'ingress.replicaCount',
    'worker.replicaCount',
    'ingress.resources',
    'worker.resources',
    'ingress.autoscaling.enabled',
    'autoscaling.keda.enabled',
    'autoscaling.keda.minReplicas',
    'autoscaling.keda.maxReplicas',
    'autoscaling.keda.queueDepthPerReplica',
    'autoscaling.keda.prometheus.serverAddress',
    'autoscaling.keda.trigger',
    'postgresql.enabled',
    'redis.enabled',
    'externalDatabase.host',
    'externalDatabase.port',
    'externalDatabase.database',
    'externalDatabase.user',
    'externalDatabase.existingSecret',
    'externalDatabase.existingSecretPasswordKey',
    'externalRedis.host',
    'externalRedis.port',
    'externalRedis.existingSecret',
    'externalRedis.existingSecretPasswordKey',
    'secrets.existingSecret',
    'providers',
    'routes',
    'metrics.serviceMonitor.enabled',
    'metrics.prometheusRule.enabled',
    'metrics.dashboards.enabled',
    'networkPolicy.enabled',
    'podDisruptionBudget.enabled',
  ];

  it('has every key of the contract, documented in the schema', () => {
    const values = parseYaml(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
    const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8'));
    for (const key of contractKeys) {
      let value: any = values;
      let node: any = schema;
      for (const part of key.split('.')) {
        value = value?.[part];
        node = node?.properties?.[part];
      }
      expect({ key, inValues: value !== undefined, inSchema: node !== undefined }).toEqual({ key, inValues: true, inSchema: true });
    }
    expect(values.postgresql.enabled).toBe(true);
    expect(values.redis.enabled).toBe(true);
  });
});

describe('the skaffold dev values (k8s/skaffold/values-dev.yaml)', () => {
  it('render objects that all pass their schemas, with a writable root for file sync', async () => {
    const objects = renderChart([path.resolve(chartDir, '../../k8s/skaffold/values-dev.yaml')]);
    const errors = (await Promise.all(objects.map(schemaError))).filter(Boolean);
    expect(errors).toEqual([]);
    const worker = one(objects, 'Deployment', '-worker');
    expect(worker.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(false);
    expect(one(objects, 'Job', '-migrate').spec.template.spec.containers[0].args).toEqual(['--import', 'tsx', 'services/migrate.ts']);
  });
});

describe('KEDA: an empty Prometheus result', () => {
  const keda = ['autoscaling.keda.enabled=true'];
  const scaledObject = (set: string[]) => one(renderChart([], [...keda, ...set]), 'ScaledObject');
  const trigger = (set: string[]) => scaledObject(set).spec.triggers[0];

  it('is an error by default, also with minReplicas 0 (KEDA then runs fallback.replicas instead of scaling to zero)', () => {
    for (const set of [[], ['autoscaling.keda.minReplicas=0']]) {
      const scaled = scaledObject(set);
      expect(scaled.spec.triggers[0].metadata.ignoreNullValues).toBe('false');
      expect(scaled.spec.fallback).toEqual({ failureThreshold: 3, replicas: 4 });
    }
  });

  it('needs a fallback while ignoreNullValues is false; without one KEDA would drop or freeze the workers', () => {
    const run = runHelm(templateArgs([], [...keda, 'autoscaling.keda.fallback=null']));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('autoscaling.keda.prometheus.ignoreNullValues=false needs autoscaling.keda.fallback');
    // The schema: both fields, replicas at least 1.
    expect(runHelm(templateArgs([], [...keda, 'autoscaling.keda.fallback.replicas=0'])).status).not.toBe(0);
  });

  it('counts as 0 only when asked (ignoreNullValues true, or as before through extraMetadata), rendered once', () => {
    expect(trigger(['autoscaling.keda.prometheus.ignoreNullValues=true']).metadata.ignoreNullValues).toBe('true');
    const legacy = trigger(['autoscaling.keda.prometheus.extraMetadata.ignoreNullValues=true', 'autoscaling.keda.prometheus.extraMetadata.unsafeSsl=true']);
    expect(legacy.metadata).toMatchObject({ ignoreNullValues: 'true', unsafeSsl: 'true' });
    const run = runHelm(templateArgs([], [...keda, 'autoscaling.keda.prometheus.extraMetadata.ignoreNullValues=true']));
    expect(run.stdout.match(/ignoreNullValues:/g)).toHaveLength(1);
    expect(scaledObject(['autoscaling.keda.prometheus.ignoreNullValues=true', 'autoscaling.keda.fallback=null']).spec.fallback).toBeUndefined();
  });

  it('does not concern the redis trigger (an unreachable Redis is an error anyway; a missing wait list is an empty queue)', () => {
    const redis = trigger(['autoscaling.keda.trigger=redis']);
    expect(redis.type).toBe('redis');
    expect(redis.metadata.ignoreNullValues).toBeUndefined();
  });
});

describe('extra environment', () => {
  it('extraEnvFrom reaches the migration Job as it does both roles (a database CA given that way is needed there too)', () => {
    const objects = renderChart([], [], ['--set-json', 'extraEnvFrom=[{"secretRef":{"name":"db-tls"}}]']);
    for (const [kind, suffix] of [['Deployment', '-ingress'], ['Deployment', '-worker'], ['Job', '-migrate']] as const) {
      const container = one(objects, kind, suffix).spec.template.spec.containers[0];
      expect({ kind, suffix, envFrom: container.envFrom }).toEqual({ kind, suffix, envFrom: [{ secretRef: { name: 'db-tls' } }] });
    }
  });
});

describe('values that the chart refuses', () => {
  const refuses = (set: string[], message: RegExp) => {
    const run = runHelm(templateArgs([], set));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(message);
  };

  it('rejects an unknown KEDA trigger (values.schema.json)', () => {
    refuses(['autoscaling.keda.enabled=true', 'autoscaling.keda.trigger=kafka'], /trigger/);
  });

  it('rejects misspelt top-level keys (values.schema.json)', () => {
    refuses(['replicaCount=3'], /additional properties|replicaCount/i);
  });

  it('rejects a password that would break DATABASE_URL', () => {
    refuses(['postgresql.auth.password=p@ss/word'], /password/);
  });

  it('requires externalDatabase.host when the bundled PostgreSQL is off', () => {
    refuses(['postgresql.enabled=false'], /externalDatabase\.host/);
  });

  it('requires externalRedis.host when the bundled Redis is off', () => {
    refuses(['redis.enabled=false'], /externalRedis\.host/);
  });

  it('refuses a terminationGracePeriodSeconds that does not cover the drain and the preStop sleep', () => {
    refuses(['terminationGracePeriodSeconds=30'], /terminationGracePeriodSeconds/);
  });

  it('refuses a nodePort or a memory target that is not a number (they rendered invalid Service / HPA objects)', () => {
    refuses(['ingress.service.type=NodePort', 'ingress.service.nodePort=abc'], /nodePort/);
    refuses(['ingress.autoscaling.enabled=true', 'ingress.autoscaling.targetMemoryUtilizationPercentage=abc'], /targetMemoryUtilizationPercentage/);
  });

  it('refuses variables in `config` that the chart sets itself', () => {
    refuses(['config.DATABASE_URL=postgresql://x@y/z'], /config\.DATABASE_URL/);
  });
});

describe('PodDisruptionBudgets: minAvailable or maxUnavailable per role', () => {
  const budget = (set: string[], role: string, extra: string[] = []) => one(renderChart([], set, extra), 'PodDisruptionBudget', `-${role}`).spec;
  const only = (spec: any) => ({ minAvailable: spec.minAvailable, maxUnavailable: spec.maxUnavailable });

  it('default to maxUnavailable 1; minAvailable, when set, replaces it', () => {
    for (const role of ['ingress', 'worker']) {
      expect(only(budget([], role))).toEqual({ minAvailable: undefined, maxUnavailable: 1 });
      expect(only(budget([`podDisruptionBudget.${role}.minAvailable=50%`], role))).toEqual({ minAvailable: '50%', maxUnavailable: undefined });
      expect(only(budget([`podDisruptionBudget.${role}.maxUnavailable=25%`], role))).toEqual({ minAvailable: undefined, maxUnavailable: '25%' });
    }
  });

  it('keep 0 as 0 (from --set, and from a values file, where it is a float)', () => {
    for (const role of ['ingress', 'worker']) {
      expect(only(budget([`podDisruptionBudget.${role}.maxUnavailable=0`], role))).toEqual({ minAvailable: undefined, maxUnavailable: 0 });
      expect(only(budget([], role, ['--set-json', `podDisruptionBudget.${role}.maxUnavailable=0`]))).toEqual({ minAvailable: undefined, maxUnavailable: 0 });
      expect(only(budget([`podDisruptionBudget.${role}.minAvailable=0`], role))).toEqual({ minAvailable: 0, maxUnavailable: undefined });
    }
  });

  it('refuse both at once (Kubernetes would refuse the PodDisruptionBudget)', () => {
    for (const role of ['ingress', 'worker']) {
      const run = runHelm(templateArgs([], [`podDisruptionBudget.${role}.minAvailable=50%`, `podDisruptionBudget.${role}.maxUnavailable=0`]));
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain(`podDisruptionBudget.${role}: set minAvailable (50%) or maxUnavailable (0), not both`);
    }
  });
});

describe('checksum annotations', () => {
  it('change when provider secrets or routes change, and only then', () => {
    const annotations = (set: string[]) =>
      renderChart([], ['secrets.adminApiToken=fixed', 'secrets.preStopToken=fixed', 'postgresql.auth.password=fixed', 'redis.auth.password=fixed', ...set])
        .filter((o) => o.kind === 'Deployment')
        .map((d) => d.spec.template.metadata.annotations);
    const [base] = annotations([]);
    const [again] = annotations([]);
    const [withStripe] = annotations(['secrets.stripeWebhookSecret=whsec_x']);
    const [withRoutes] = annotations(['routes.destinations.a.url=http://a', 'routes.routes[0].provider=stripe', 'routes.routes[0].to[0]=a']);
    expect(again).toEqual(base);
    expect(withStripe['checksum/secrets']).not.toBe(base['checksum/secrets']);
    expect(withStripe['checksum/config-files']).toBe(base['checksum/config-files']);
    expect(withRoutes['checksum/config-files']).not.toBe(base['checksum/config-files']);
    expect(withRoutes['checksum/secrets']).toBe(base['checksum/secrets']);
  });
});

describe('termination: preStop hook and grace period', () => {
  const container = (objects: K8sObject[], role: string) => podSpecOf(one(objects, 'Deployment', `-${role}`)).containers[0];
  const grace = (objects: K8sObject[], role: string) => podSpecOf(one(objects, 'Deployment', `-${role}`)).terminationGracePeriodSeconds;

  it('the ingress calls GET /health/prestop?sleepSeconds=<preStopSleepSeconds> on its own port, on every Kubernetes version', () => {
    for (const kubeVersion of ['1.33.0', '1.29.0']) {
      const preStop = container(renderChart([], [], ['--kube-version', kubeVersion]), 'ingress').lifecycle.preStop;
      // With the release's PRESTOP_TOKEN (test/chart/prestop-token.test.ts): the service refuses the hook without it.
      expect(preStop).toEqual({
        httpGet: { path: '/health/prestop?sleepSeconds=5', port: 'http', httpHeaders: [{ name: 'X-Prestop-Token', value: expect.stringMatching(/^[A-Za-z0-9]{40}$/) }] },
      });
    }
    expect(container(renderChart([], ['preStopSleepSeconds=12']), 'ingress').lifecycle.preStop.httpGet.path).toBe('/health/prestop?sleepSeconds=12');
  });

  it('the worker has no preStop hook (no Service traffic to wait out) and a grace period without one', () => {
    for (const set of [[], ['preStopSleepSeconds=10']]) {
      const objects = renderChart([], set);
      expect(container(objects, 'worker').lifecycle).toBeUndefined();
      // ceil(SHUTDOWN_TIMEOUT_MS / 1000) + 10 for the worker; + preStopSleepSeconds for the ingress.
      expect(grace(objects, 'worker')).toBe(35);
      expect(grace(objects, 'ingress')).toBe(35 + (set.length ? 10 : 5));
    }
    // An explicit grace period only has to cover the worker's drain.
    const explicit = renderChart([], ['terminationGracePeriodSeconds=31', 'preStopSleepSeconds=0']);
    expect([grace(explicit, 'ingress'), grace(explicit, 'worker')]).toEqual([31, 31]);
  });

  it('preStopSleepSeconds=0 renders no hook; ingress.preStopHandler=sleep only sleeps (native handler from 1.30, node before)', () => {
    expect(container(renderChart([], ['preStopSleepSeconds=0']), 'ingress').lifecycle).toBeUndefined();
    const modern = container(renderChart([], ['ingress.preStopHandler=sleep']), 'ingress').lifecycle.preStop;
    expect(modern).toEqual({ sleep: { seconds: 5 } });
    const old = container(renderChart([], ['ingress.preStopHandler=sleep'], ['--kube-version', '1.29.0']), 'ingress').lifecycle.preStop;
    expect(old.exec.command).toEqual(['node', '-e', 'setTimeout(() => {}, 5000)']);
  });
});

describe('proxy trust of the ingress role', () => {
  it('TRUST_PROXY: unset without the Ingress, private ranges with it, ingress.trustProxy or ingress.config.TRUST_PROXY when given', () => {
    const ingressEnv = (set: string[]) => {
      const deployment = one(renderChart([], set), 'Deployment', '-ingress');
      return podSpecOf(deployment).containers[0].env.filter((e: any) => e.name === 'TRUST_PROXY').map((e: any) => e.value);
    };
    expect(ingressEnv([])).toEqual([]);
    expect(ingressEnv(['ingress.trustProxy=10.0.0.0/8'])).toEqual(['10.0.0.0/8']);
    // The Ingress switched on by its name, or by its deprecated name (chart 0.2).
    for (const key of ['ingress.publicIngress', 'ingress.ingressResource']) {
      expect(ingressEnv([`${key}.enabled=true`])).toEqual(['loopback, linklocal, uniquelocal']);
      expect(ingressEnv([`${key}.enabled=true`, 'ingress.trustProxy=2'])).toEqual(['2']);
      expect(ingressEnv([`${key}.enabled=true`, 'ingress.config.TRUST_PROXY=1'])).toEqual(['1']);
    }
  });
});

describe('the public Ingress: ingress.publicIngress, formerly ingress.ingressResource', () => {
  const settings = (key: string) => [
    `${key}.enabled=true`,
    `${key}.className=nginx`,
    `${key}.hosts[0].host=hooks.example.org`,
    `${key}.hosts[0].paths[0].path=/webhooks`,
    `${key}.tls[0].secretName=hooks-tls`,
    `${key}.tls[0].hosts[0]=hooks.example.org`,
    `${key}.annotations.cert-manager\\.io/cluster-issuer=letsencrypt`,
  ];

  it('renders the same Ingress (and the same ingress Deployment) from either spelling', () => {
    // Fixed tokens and passwords, so that the pods' checksum annotations and preStop header do not differ by a random
    // value.
    const fixed = ['secrets.adminApiToken=fixed', 'secrets.preStopToken=fixed', 'postgresql.auth.password=fixed', 'redis.auth.password=fixed'];
    const current = renderChart([], [...fixed, ...settings('ingress.publicIngress')]);
    const deprecated = renderChart([], [...fixed, ...settings('ingress.ingressResource')]);
    const ingress = one(current, 'Ingress');
    expect(ingress.spec.rules[0].host).toBe('hooks.example.org');
    expect(ingress.metadata.annotations).toEqual({ 'cert-manager.io/cluster-issuer': 'letsencrypt' });
    expect(one(deprecated, 'Ingress')).toEqual(ingress);
    expect(one(deprecated, 'Deployment', '-ingress')).toEqual(one(current, 'Deployment', '-ingress'));
    // The deprecated key fills in from publicIngress's defaults (here: the /webhooks host and path).
    expect(one(renderChart([], ['ingress.ingressResource.enabled=true']), 'Ingress')).toEqual(one(renderChart([], ['ingress.publicIngress.enabled=true']), 'Ingress'));
    expect(find(renderChart([], ['ingress.ingressResource.enabled=false']), 'Ingress')).toHaveLength(0);
  });

  it('routes /webhooks (Prefix) for a host given without paths, as for the default host', () => {
    // --set ...hosts[0].host replaces the whole default list: the host comes without paths, and an Ingress rule with
    // an empty `paths` is refused by the API server.
    const backend = { service: { name: `${fullname}-ingress`, port: { name: 'http' } } };
    for (const key of ['ingress.publicIngress', 'ingress.ingressResource']) {
      const ingress = one(renderChart([], [`${key}.enabled=true`, `${key}.hosts[0].host=a.example`, `${key}.hosts[1].host=b.example`, `${key}.hosts[1].paths[0].path=/webhooks/stripe`]), 'Ingress');
      expect(ingress.spec.rules).toEqual([
        { host: 'a.example', http: { paths: [{ path: '/webhooks', pathType: 'Prefix', backend }] } },
        { host: 'b.example', http: { paths: [{ path: '/webhooks/stripe', pathType: 'Prefix', backend }] } },
      ]);
    }
  });

  it('refuses both spellings at once', () => {
    const run = runHelm(templateArgs([], ['ingress.publicIngress.enabled=true', 'ingress.ingressResource.enabled=true']));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('set only ingress.publicIngress');
  });

  it('NOTES: the public endpoint from either spelling, and a deprecation notice only for the old one', () => {
    const notes = (set: string[]) => {
      const run = runHelm(['install', releaseName, chartDir, '--namespace', releaseNamespace, '--dry-run=client', ...set.flatMap((pair) => ['--set', pair])]);
      expect(run.status).toBe(0);
      return run.stdout.slice(run.stdout.indexOf('NOTES:'));
    };
    const current = notes(settings('ingress.publicIngress'));
    const deprecated = notes(settings('ingress.ingressResource'));
    for (const text of [current, deprecated]) expect(text).toContain('Public webhook endpoint: https://hooks.example.org/webhooks/<provider>');
    expect(current).not.toContain('DEPRECATED');
    expect(deprecated).toContain('DEPRECATED: `ingress.ingressResource` is now `ingress.publicIngress`');
  });
});
