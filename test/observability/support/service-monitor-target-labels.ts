import type { K8sObject } from '../../chart/helm.js';

/**
 * The labels Prometheus gives a target of a rendered ServiceMonitor, as the Prometheus Operator's generated scrape
 * config makes them: its own relabelings in its order (namespace, service, pod, container; the monitor's
 * targetLabels; job from the Service's name, or from its `jobLabel`; endpoint), then the endpoint's `relabelings`,
 * then `instance` from the address. So a test sees what a `relabelings` value does to the labels an alert selects
 * on, without a cluster (no Prometheus Operator runs on the test machine). Covers the relabel actions a ServiceMonitor
 * value plausibly uses (replace, labeldrop, labelkeep, keep, drop); any other throws, so a test cannot pass on an
 * action it did not apply.
 */
export interface ScrapedPod {
  namespace: string;
  /** The scraped Service, as rendered (its name and labels are the target's meta labels). */
  service: K8sObject;
  pod: string;
  container: string;
  address: string;
}

interface Relabeling {
  action?: string;
  sourceLabels?: string[];
  separator?: string;
  targetLabel?: string;
  regex?: string;
  replacement?: string;
}

/** Prometheus's label-name sanitising of a Kubernetes label key (app.kubernetes.io/instance -> app_kubernetes_io_instance). */
const sanitize = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, '_');

/** Labels of the target, or undefined when a keep/drop relabeling drops it. */
export function serviceMonitorTargetLabels(monitor: K8sObject, scraped: ScrapedPod): Record<string, string> | undefined {
  const endpoint = monitor.spec.endpoints[0];
  const labels: Record<string, string> = {
    __address__: scraped.address,
    __meta_kubernetes_namespace: scraped.namespace,
    __meta_kubernetes_service_name: scraped.service.metadata.name,
    __meta_kubernetes_pod_name: scraped.pod,
    __meta_kubernetes_pod_container_name: scraped.container,
  };
  for (const [key, value] of Object.entries(scraped.service.metadata.labels ?? {})) labels[`__meta_kubernetes_service_label_${sanitize(key)}`] = value;

  const generated: Relabeling[] = [
    { sourceLabels: ['__meta_kubernetes_namespace'], targetLabel: 'namespace' },
    { sourceLabels: ['__meta_kubernetes_service_name'], targetLabel: 'service' },
    { sourceLabels: ['__meta_kubernetes_pod_name'], targetLabel: 'pod' },
    { sourceLabels: ['__meta_kubernetes_pod_container_name'], targetLabel: 'container' },
    ...((monitor.spec.targetLabels ?? []) as string[]).map((key) => ({
      sourceLabels: [`__meta_kubernetes_service_label_${sanitize(key)}`],
      targetLabel: sanitize(key),
      regex: '(.+)',
    })),
    { sourceLabels: ['__meta_kubernetes_service_name'], targetLabel: 'job' },
    ...(monitor.spec.jobLabel
      ? [{ sourceLabels: [`__meta_kubernetes_service_label_${sanitize(monitor.spec.jobLabel)}`], targetLabel: 'job', regex: '(.+)' }]
      : []),
    { targetLabel: 'endpoint', replacement: String(endpoint.port) },
  ];
  for (const rule of [...generated, ...((endpoint.relabelings ?? []) as Relabeling[])]) {
    if (!relabel(labels, rule)) return undefined;
  }
  labels.instance ??= labels.__address__!;
  return Object.fromEntries(Object.entries(labels).filter(([name]) => !name.startsWith('__')));
}

/** Applies one relabel_config to `labels` in place; false when it drops the target. */
function relabel(labels: Record<string, string>, rule: Relabeling): boolean {
  const action = (rule.action ?? 'replace').toLowerCase();
  const regex = new RegExp(`^(?:${rule.regex ?? '(.*)'})$`);
  const value = (rule.sourceLabels ?? []).map((name) => labels[name] ?? '').join(rule.separator ?? ';');
  switch (action) {
    case 'replace': {
      const match = regex.exec(value);
      if (!match) return true;
      const result = (rule.replacement ?? '$1').replace(/\$\{?(\d+)\}?/g, (_, group: string) => match[Number(group)] ?? '');
      if (result === '') delete labels[rule.targetLabel!];
      else labels[rule.targetLabel!] = result;
      return true;
    }
    case 'keep':
      return regex.test(value);
    case 'drop':
      return !regex.test(value);
    case 'labeldrop':
    case 'labelkeep':
      for (const name of Object.keys(labels)) if (regex.test(name) === (action === 'labeldrop')) delete labels[name];
      return true;
    default:
      throw new Error(`relabel action ${rule.action} is not emulated`);
  }
}
