import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { helm, parseManifests, releaseName, releaseNamespace, repoRoot, templateArgs, type HelmRun, type K8sObject } from './helm.js';

/**
 * A Kubernetes API server just good enough for `helm template --dry-run=server`: discovery for every kind the
 * chart renders, and GET of single objects from a seeded in-memory store (everything else is 404). It lets the
 * chart tests exercise the chart's `lookup` paths (what an upgrade of a running release renders) without a cluster.
 */

/** group/version → [plural, kind, namespaced]. */
const RESOURCES: Record<string, Array<[string, string, boolean]>> = {
  v1: [
    ['secrets', 'Secret', true],
    ['services', 'Service', true],
    ['serviceaccounts', 'ServiceAccount', true],
    ['configmaps', 'ConfigMap', true],
    ['pods', 'Pod', true],
    ['persistentvolumeclaims', 'PersistentVolumeClaim', true],
    ['namespaces', 'Namespace', false],
  ],
  'apps/v1': [
    ['deployments', 'Deployment', true],
    ['statefulsets', 'StatefulSet', true],
  ],
  'batch/v1': [['jobs', 'Job', true]],
  'policy/v1': [['poddisruptionbudgets', 'PodDisruptionBudget', true]],
  'autoscaling/v2': [['horizontalpodautoscalers', 'HorizontalPodAutoscaler', true]],
  'rbac.authorization.k8s.io/v1': [
    ['roles', 'Role', true],
    ['rolebindings', 'RoleBinding', true],
  ],
  'networking.k8s.io/v1': [
    ['ingresses', 'Ingress', true],
    ['networkpolicies', 'NetworkPolicy', true],
  ],
  'keda.sh/v1alpha1': [
    ['scaledobjects', 'ScaledObject', true],
    ['triggerauthentications', 'TriggerAuthentication', true],
  ],
  'monitoring.coreos.com/v1': [
    ['servicemonitors', 'ServiceMonitor', true],
    ['prometheusrules', 'PrometheusRule', true],
  ],
};

export class FakeKubeApi {
  /** Paths of every GET of a single object (discovery left out). */
  readonly lookups: string[] = [];
  private server?: http.Server;
  private dir?: string;

  constructor(private readonly objects: K8sObject[]) {}

  get kubeconfig(): string {
    if (!this.dir) throw new Error('not started');
    return path.join(this.dir, 'kubeconfig');
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.dir = mkdtempSync(path.join(tmpdir(), 'fake-kube-'));
    writeFileSync(
      this.kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${port}"}}]`,
        'users: [{name: fake, user: {token: fake}}]',
        `contexts: [{name: fake, context: {cluster: fake, user: fake, namespace: ${releaseNamespace}}}]`,
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const notFound = () => send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'not found' });
    const pathname = new URL(req.url ?? '/', 'http://fake').pathname;
    if (req.method !== 'GET') return send(405, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 405, message: 'read-only' });
    if (pathname === '/version') return send(200, { major: '1', minor: '33', gitVersion: 'v1.33.0', platform: 'linux/amd64' });
    if (pathname === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (pathname === '/apis') {
      const groups = new Map<string, string[]>();
      for (const groupVersion of Object.keys(RESOURCES).filter((gv) => gv.includes('/'))) {
        const [group, version] = groupVersion.split('/') as [string, string];
        groups.set(group, [...(groups.get(group) ?? []), version]);
      }
      return send(200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [...groups].map(([name, versions]) => ({
          name,
          versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
          preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
        })),
      });
    }
    const parts = pathname.split('/').filter(Boolean);
    // /api/v1 or /apis/<group>/<version>: the resource list of a group version.
    const groupVersion = parts[0] === 'api' ? parts[1] : parts[0] === 'apis' ? `${parts[1]}/${parts[2]}` : undefined;
    const rest = parts.slice(parts[0] === 'api' ? 2 : 3);
    const resources = groupVersion ? RESOURCES[groupVersion] : undefined;
    if (!groupVersion || !resources) return notFound();
    if (rest.length === 0) {
      return send(200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion,
        resources: resources.map(([name, kind, namespaced]) => ({
          name,
          singularName: kind.toLowerCase(),
          namespaced,
          kind,
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
        })),
      });
    }
    // namespaces/<ns>/<plural>/<name>
    if (rest.length === 4 && rest[0] === 'namespaces') {
      const [, namespace, plural, name] = rest as [string, string, string, string];
      this.lookups.push(pathname);
      const kind = resources.find(([resource]) => resource === plural)?.[1];
      const found = this.objects.find(
        (o) => o.kind === kind && o.apiVersion === groupVersion && o.metadata.name === name && (o.metadata.namespace ?? releaseNamespace) === namespace,
      );
      return found ? send(200, found) : notFound();
    }
    return notFound();
  }
}

/** A live object of the release, with the ownership metadata Helm checks before it adopts or updates one. */
export function liveObject(apiVersion: string, kind: string, name: string, rest: Record<string, unknown> = {}): K8sObject {
  const { metadata, ...others } = rest as { metadata?: Record<string, unknown> };
  return {
    apiVersion,
    kind,
    metadata: {
      name,
      namespace: releaseNamespace,
      labels: { 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': releaseName },
      annotations: { 'meta.helm.sh/release-name': releaseName, 'meta.helm.sh/release-namespace': releaseNamespace },
      ...(metadata ?? {}),
    },
    ...others,
  };
}

/**
 * Renders the chart as an install or upgrade against a cluster holding `objects` would
 * (`helm template --dry-run=server`, so `lookup` reads them). `extra` adds helm arguments (`--is-upgrade` renders
 * as `helm upgrade` does: .Release.IsUpgrade). Never throws on a helm failure: see `status`.
 */
export async function renderAgainstCluster(
  objects: K8sObject[],
  valueFiles: string[] = [],
  set: string[] = [],
  extra: string[] = [],
): Promise<HelmRun & { objects: K8sObject[]; lookups: string[] }> {
  const api = await new FakeKubeApi(objects).start();
  try {
    const args = templateArgs(valueFiles, set, ['--dry-run=server', '--disable-openapi-validation', ...extra]).filter(
      (arg, index, all) => arg !== '--kube-version' && all[index - 1] !== '--kube-version',
    );
    const run = await new Promise<HelmRun>((resolve, reject) => {
      const child = spawn(helm(), args, {
        cwd: repoRoot,
        env: { ...process.env, KUBECONFIG: api.kubeconfig, HELM_PLUGINS: '/nonexistent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status: status ?? -1, stdout, stderr }));
    });
    return { ...run, objects: run.status === 0 ? parseManifests(run.stdout) : [], lookups: api.lookups };
  } finally {
    await api.stop();
  }
}
