import { beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { configSchema, configVariableNames } from '../../services/shared/config/config-schema.js';
import { HEALTH_LIVE_PATH, HEALTH_PRESTOP_PATH, HEALTH_READY_PATH, METRICS_PATH } from '../../services/shared/health/health-paths.js';
import { PRESTOP_MAX_SLEEP_SECONDS } from '../../services/shared/health/termination-notice.js';
import { find, one, podSpecOf, readText, renderChart, repoRoot, sourceFiles, valueSets, type K8sObject } from './helm.js';

/**
 * Ties the chart to the code: probe paths are routes the service serves, every variable the chart sets is one the
 * service reads (and the values it sets pass the service's own config schema), the autoscaler's metric is one the
 * service exports, and pods get longer to stop than the service takes to drain.
 */

const servicesDir = path.join(repoRoot, 'services');

/** Variables the chart sets only for $(VAR) expansion inside other variables; the service never reads them. */
const expansionOnlyVariables = new Set(['DATABASE_PASSWORD', 'REDIS_PASSWORD']);
const isOtelVariable = (name: string) => name.startsWith('OTEL_');

const renders = new Map<string, K8sObject[]>();

/** The containers running the service image: the two roles and the migration Job. */
function serviceContainers(objects: K8sObject[]): Array<{ owner: string; container: any; spec: any }> {
  return objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'Job')
    .flatMap((o) => podSpecOf(o).containers.map((container: any) => ({ owner: `${o.kind}/${o.metadata.name}`, container, spec: podSpecOf(o) })));
}

/** Literal env of a container, with $(VAR) references expanded and secret-backed values stood in for. */
function effectiveEnv(container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) {
      env[entry.name] = String(entry.value).replace(/\$\(([A-Za-z0-9_]+)\)/g, (_, name: string) => env[name] ?? `$(${name})`);
    } else if (entry.valueFrom?.fieldRef) {
      env[entry.name] = `field-${entry.valueFrom.fieldRef.fieldPath.replace(/\W/g, '-')}`;
    } else if (entry.valueFrom?.secretKeyRef) {
      env[entry.name] = 'SecretValue123';
    }
  }
  return env;
}

beforeAll(() => {
  for (const set of valueSets()) renders.set(set, renderChart([set]));
});

describe('the chart and the service agree', () => {
  it('probes hit the health routes the service serves', () => {
    const sources = sourceFiles(servicesDir)
      .filter((file) => !file.endsWith(path.join('health', 'health-paths.ts')))
      .map(readText)
      .join('\n');
    // The constants are really used for routing somewhere in services/ (not only declared).
    for (const [constant, value] of Object.entries({ HEALTH_LIVE_PATH, HEALTH_READY_PATH, HEALTH_PRESTOP_PATH, METRICS_PATH })) {
      expect({ constant, used: sources.includes(constant) || sources.includes(`'${value}'`) }).toEqual({ constant, used: true });
    }

    for (const [set, objects] of renders) {
      for (const deployment of find(objects, 'Deployment')) {
        const container = podSpecOf(deployment).containers[0];
        const where = `${set}: ${deployment.metadata.name}`;
        expect({ where, path: container.livenessProbe.httpGet.path }).toEqual({ where, path: HEALTH_LIVE_PATH });
        expect({ where, path: container.readinessProbe.httpGet.path }).toEqual({ where, path: HEALTH_READY_PATH });
        expect({ where, path: container.startupProbe.httpGet.path }).toEqual({ where, path: HEALTH_LIVE_PATH });
        for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
          expect(container.ports.map((p: any) => p.name)).toContain(probe.httpGet.port);
        }
        // The ingress role's preStop hook calls the service's preStop route on a port the pod declares.
        const hook = container.lifecycle?.preStop?.httpGet;
        if (hook) {
          const url = new URL(hook.path, 'http://pod');
          expect({ where, path: url.pathname }).toEqual({ where, path: HEALTH_PRESTOP_PATH });
          expect(Number(url.searchParams.get('sleepSeconds'))).toBeLessThanOrEqual(PRESTOP_MAX_SLEEP_SECONDS);
          expect(container.ports.map((p: any) => p.name)).toContain(hook.port);
        }
        const scrapePath = deployment.spec.template.metadata.annotations?.['prometheus.io/path'];
        if (scrapePath) expect(scrapePath).toBe(METRICS_PATH);
      }
      for (const monitor of find(objects, 'ServiceMonitor')) {
        for (const endpoint of monitor.spec.endpoints) expect(endpoint.path).toBe(METRICS_PATH);
      }
      for (const pod of find(objects, 'Pod')) expect(pod.spec.containers[0].args[1]).toContain(HEALTH_READY_PATH);
    }
  });

  it('sets only variables the service reads (configVariableNames), OTEL_* and the expansion-only helpers', () => {
    const known = new Set(configVariableNames);
    expect(known.has('DATABASE_URL')).toBe(true);
    for (const [set, objects] of renders) {
      for (const { owner, container } of serviceContainers(objects)) {
        for (const { name } of container.env ?? []) {
          const ok = known.has(name) || isOtelVariable(name) || expansionOnlyVariables.has(name);
          expect({ set, owner, name, ok }).toEqual({ set, owner, name, ok: true });
        }
      }
    }
  });

  it('sets values the service accepts (its own zod schema), with SERVICE_ROLE and PORT matching the pod', () => {
    for (const [set, objects] of renders) {
      for (const { owner, container } of serviceContainers(objects)) {
        const env = effectiveEnv(container);
        const parsed = configSchema.safeParse(env);
        expect({ set, owner, issues: parsed.success ? [] : parsed.error.issues }).toEqual({ set, owner, issues: [] });
        if (owner.startsWith('Deployment/')) {
          expect(owner.endsWith(`-${env.SERVICE_ROLE}`)).toBe(true);
          expect(container.ports[0].containerPort).toBe(Number(env.PORT));
        }
      }
    }
  });

  it('defines every $(VAR) before the variable that uses it, and only for helper or downward-API variables', () => {
    for (const [set, objects] of renders) {
      for (const { owner, container } of serviceContainers(objects)) {
        const seen = new Set<string>();
        for (const entry of container.env ?? []) {
          for (const [, name] of String(entry.value ?? '').matchAll(/\$\(([A-Za-z0-9_]+)\)/g)) {
            expect({ set, owner, variable: entry.name, uses: name, definedBefore: seen.has(name!) }).toEqual({
              set,
              owner,
              variable: entry.name,
              uses: name,
              definedBefore: true,
            });
          }
          seen.add(entry.name);
        }
      }
    }
  });

  it('gives pods longer to stop than SHUTDOWN_TIMEOUT_MS plus the preStop hold; only the ingress has a preStop hook', () => {
    const defaultShutdownMs = configSchema.parse({}).SHUTDOWN_TIMEOUT_MS;
    for (const [set, objects] of renders) {
      for (const deployment of find(objects, 'Deployment')) {
        const spec = podSpecOf(deployment);
        const container = spec.containers[0];
        const env = effectiveEnv(container);
        const shutdownSeconds = Number(env.SHUTDOWN_TIMEOUT_MS ?? defaultShutdownMs) / 1000;
        const preStop = container.lifecycle?.preStop;
        const preStopSeconds = preStop?.httpGet
          ? Number(new URL(preStop.httpGet.path, 'http://pod').searchParams.get('sleepSeconds'))
          : (preStop?.sleep?.seconds ?? Number(/setTimeout\(\(\) => \{\}, (\d+)\)/.exec(preStop?.exec?.command?.join(' ') ?? '')?.[1] ?? 0) / 1000);
        if (env.SERVICE_ROLE === 'ingress') expect(preStopSeconds).toBeGreaterThan(0);
        else expect(preStop).toBeUndefined();
        const where = `${set}: ${deployment.metadata.name}`;
        expect({ where, enough: spec.terminationGracePeriodSeconds > shutdownSeconds + preStopSeconds }).toEqual({ where, enough: true });
      }
    }
  });

  it('scales workers on a metric the service exports, without multiplying it by the pod count', () => {
    const metricsSources = sourceFiles(path.join(servicesDir, 'shared/metrics')).map(readText).join('\n');
    let checked = 0;
    for (const [set, objects] of renders) {
      for (const scaled of find(objects, 'ScaledObject')) {
        const worker = one(objects, 'Deployment', '-worker');
        const env = effectiveEnv(podSpecOf(worker).containers[0]);
        for (const trigger of scaled.spec.triggers) {
          if (trigger.type === 'prometheus') {
            const metric = /([a-z_:][a-z0-9_:]*)\{/.exec(trigger.metadata.query)?.[1];
            expect(metric).toBe('webhook_queue_jobs');
            expect(metricsSources).toContain(`'${metric}'`);
            expect(trigger.metadata.query).toContain(`queue="${env.QUEUE_NAME}"`);
            // Aggregated with max across pods (each pod reports the whole queue), never a plain sum over pods.
            expect(trigger.metadata.query).toMatch(/max by \(state\)|max\(sum by \(pod\)/);
          } else {
            expect(trigger.type).toBe('redis');
            expect(trigger.metadata.listName).toBe(`${env.QUEUE_PREFIX}:${env.QUEUE_NAME}:wait`);
          }
          checked += 1;
        }
        expect(`${set}: ${scaled.spec.scaleTargetRef.name}`).toBe(`${set}: ${worker.metadata.name}`);
      }
    }
    expect(checked).toBeGreaterThanOrEqual(2);
  });

  it('points QUEUE_NAME / QUEUE_PREFIX of both roles at the same queue', () => {
    for (const [set, objects] of renders) {
      const queues = find(objects, 'Deployment').map((d) => {
        const env = effectiveEnv(podSpecOf(d).containers[0]);
        return `${env.QUEUE_PREFIX}:${env.QUEUE_NAME}`;
      });
      expect({ set, distinct: new Set(queues).size }).toEqual({ set, distinct: 1 });
    }
  });
});
