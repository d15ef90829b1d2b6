import type { K8sObject } from './helm.js';

/** A kubernetes-models class: constructs from plain data and validates against the OpenAPI schema. */
type ModelClass = new (data: unknown) => { validate(): void; toJSON(): unknown };

/**
 * The module holding the model of an apiVersion/kind:
 * core and built-in groups from `kubernetes-models`, KEDA from `@kubernetes-models/keda`,
 * the Prometheus Operator's CRDs from `@kubernetes-models/prometheus-operator`.
 */
export function modelModulePath(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (!/^[A-Za-z0-9]+$/.test(kind) || !version) throw new Error(`odd apiVersion/kind ${apiVersion}/${kind}`);
  if (group === '') return `kubernetes-models/${version}/${kind}`;
  if (group === 'keda.sh') return `@kubernetes-models/keda/keda.sh/${version}/${kind}`;
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${kind}`;
  return `kubernetes-models/${group}/${version}/${kind}`;
}

const cache = new Map<string, ModelClass | undefined>();

/** The model class for an object's apiVersion and kind, or undefined when no package has one. */
export async function modelFor(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const key = `${apiVersion}/${kind}`;
  if (cache.has(key)) return cache.get(key);
  let model: ModelClass | undefined;
  try {
    const module = (await import(modelModulePath(apiVersion, kind))) as Record<string, unknown>;
    model = module[kind] as ModelClass | undefined;
  } catch {
    model = undefined;
  }
  cache.set(key, model);
  return model;
}

/** Validates an object against its schema; resolves to an error message, or undefined when valid. */
export async function schemaError(object: K8sObject): Promise<string | undefined> {
  const Model = await modelFor(object.apiVersion, object.kind);
  if (!Model) return `no schema model for ${object.apiVersion} ${object.kind}`;
  try {
    new Model(object).validate();
    return undefined;
  } catch (error) {
    const details = (error as { errors?: unknown }).errors;
    return `${object.kind}/${object.metadata?.name}: ${(error as Error).message}${details ? ` ${JSON.stringify(details)}` : ''}`;
  }
}
