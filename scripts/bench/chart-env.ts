import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/** The environment the Helm chart gives each role by default: `config`, then `ingress.config` / `worker.config`. */
export interface ChartRoleEnv {
  ingress: Record<string, string>;
  worker: Record<string, string>;
}

/**
 * Reads the chart's default `config` maps, so the bench runs the roles with the settings they deploy with (the
 * worker's concurrency, the pool size, …) rather than the code's bare defaults.
 */
export function readChartRoleEnv(root: string): ChartRoleEnv {
  const values = parse(readFileSync(path.join(root, 'charts/event-integration-service/values.yaml'), 'utf8')) as {
    config?: Record<string, unknown>;
    ingress?: { config?: Record<string, unknown> };
    worker?: { config?: Record<string, unknown> };
  };
  const strings = (map: Record<string, unknown> | undefined) =>
    Object.fromEntries(Object.entries(map ?? {}).map(([key, value]) => [key, String(value)]));
  const shared = strings(values.config);
  return { ingress: { ...shared, ...strings(values.ingress?.config) }, worker: { ...shared, ...strings(values.worker?.config) } };
}
