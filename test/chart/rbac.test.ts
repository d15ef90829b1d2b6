import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { chartDir, parseManifests, readText, renderChart, repoRoot, valueSets } from './helm.js';
import { schemaError } from './models.js';

/**
 * k8s/rbac/aggregate-to-namespace-roles.yaml: what a namespace admin needs beyond the built-in `admin` role to install
 * the chart with every option on. Checked against what the chart really renders with each value set.
 */

const builtInGroups = new Set(['', 'apps', 'batch', 'policy', 'autoscaling', 'rbac.authorization.k8s.io', 'networking.k8s.io']);
const roles = parseManifests(readText(path.join(repoRoot, 'k8s/rbac/aggregate-to-namespace-roles.yaml')));
const productionExample = path.resolve(chartDir, '../../k8s/examples/values-production.yaml');

/** Every custom resource (group, plural) the chart renders with any value set. */
function customResources(): Array<{ group: string; resource: string }> {
  const found = new Map<string, { group: string; resource: string }>();
  for (const set of [...valueSets(), productionExample]) {
    for (const object of renderChart([set])) {
      const group = object.apiVersion.includes('/') ? object.apiVersion.split('/')[0]! : '';
      if (builtInGroups.has(group)) continue;
      const resource = `${object.kind.toLowerCase()}s`;
      found.set(`${group}/${resource}`, { group, resource });
    }
  }
  return [...found.values()];
}

const grants = (role: any, group: string, resource: string, verbs: string[]) =>
  verbs.every((verb) =>
    (role.rules as any[]).some((rule) => rule.apiGroups.includes(group) && rule.resources.includes(resource) && rule.verbs.includes(verb)),
  );

describe('ClusterRoles aggregated into the namespace roles (k8s/rbac)', () => {
  it('are valid ClusterRoles, labelled for aggregation into admin/edit and view', async () => {
    expect(roles.map((r) => r.kind)).toEqual(['ClusterRole', 'ClusterRole']);
    for (const role of roles) expect(await schemaError(role)).toBeUndefined();
    const [edit, view] = roles;
    expect(edit!.metadata.labels).toMatchObject({ 'rbac.authorization.k8s.io/aggregate-to-admin': 'true', 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' });
    expect(view!.metadata.labels).toMatchObject({ 'rbac.authorization.k8s.io/aggregate-to-view': 'true' });
  });

  it('cover every custom resource the chart renders: manage in admin/edit, read in view', () => {
    const resources = customResources();
    // KEDA (ScaledObject, TriggerAuthentication) and the Prometheus Operator (ServiceMonitor, PrometheusRule).
    expect(resources.map((r) => `${r.group}/${r.resource}`).sort()).toEqual([
      'keda.sh/scaledobjects',
      'keda.sh/triggerauthentications',
      'monitoring.coreos.com/prometheusrules',
      'monitoring.coreos.com/servicemonitors',
    ]);
    const [edit, view] = roles;
    for (const { group, resource } of resources) {
      expect({ resource, edit: grants(edit, group, resource, ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']) }).toEqual({ resource, edit: true });
      expect({ resource, view: grants(view, group, resource, ['get', 'list', 'watch']) }).toEqual({ resource, view: true });
      expect(grants(view, group, resource, ['create'])).toBe(false);
    }
  });
});
