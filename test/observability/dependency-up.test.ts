/**
 * `webhook_dependency_up{dependency}`: what the health checks found. In Kubernetes an ingress that cannot reach
 * PostgreSQL fails readiness, leaves the Service and receives no webhook to count as `unavailable`, so this gauge is
 * what WebhookStorageUnavailable sees during such an outage. Readiness is 503 for other reasons too (the preStop
 * announcement and the drain of a rolling deploy): those check nothing and must leave the gauge alone.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { createHttpApp } from '../../services/runtime/http-app.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { DependencyGauge } from '../../services/shared/metrics/dependency-gauge.js';
import { find, parseExposition } from './support/prometheus-text.js';

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

interface Fixture {
  url: string;
  /** How many times each check ran. */
  runs: Record<string, number>;
  up: Record<string, boolean>;
  shutDown(): void;
}

/** The HTTP surface with a database and a Redis check that pass or fail as `up` says, as service.ts wires them. */
async function serve(options: { freshMs?: number } = {}): Promise<Fixture> {
  const up: Record<string, boolean> = { database: true, redis: true };
  const runs: Record<string, number> = { database: 0, redis: 0 };
  const check = (name: string) => async () => {
    runs[name]!++;
    if (!up[name]) throw new Error(`${name} unreachable`);
  };
  const checks = { database: check('database'), redis: check('redis') };
  const dependencies = new DependencyGauge(checks, { freshMs: options.freshMs ?? 60_000 });
  let shuttingDown = false;
  const app = createHttpApp({
    logger: createLogger('http'),
    routers: [],
    health: { checks, readinessChecks: ['database'], maxHeapMb: 4096, isShuttingDown: () => shuttingDown, onCheck: dependencies.record },
  });
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, runs, up, shutDown: () => (shuttingDown = true) };
}

async function dependencyUp(url: string): Promise<Record<string, number>> {
  const exposition = parseExposition(await (await fetch(`${url}/metrics`)).text());
  return Object.fromEntries(find(exposition, 'webhook_dependency_up').map((sample) => [sample.labels.dependency, sample.value]));
}

describe('webhook_dependency_up', () => {
  it('is what the readiness check found: 0 while the database check fails, 1 once it passes again', async () => {
    const app = await serve();
    expect((await fetch(`${app.url}/health/ready`)).status).toBe(200);
    expect(await dependencyUp(app.url)).toEqual({ database: 1, redis: 1 });

    app.up.database = false;
    expect((await fetch(`${app.url}/health/ready`)).status).toBe(503);
    expect(await dependencyUp(app.url)).toEqual({ database: 0, redis: 1 });

    app.up.database = true;
    expect((await fetch(`${app.url}/health/ready`)).status).toBe(200);
    expect(await dependencyUp(app.url)).toEqual({ database: 1, redis: 1 });
  });

  it('stays as it was while readiness is 503 for the preStop announcement and the drain (a rolling deploy)', async () => {
    const app = await serve();
    expect((await fetch(`${app.url}/health/ready`)).status).toBe(200);
    // The kubelet's preStop hook: readiness turns 503 at once, on purpose.
    expect((await fetch(`${app.url}/health/prestop?sleepSeconds=0`)).status).toBe(200);
    const announced = await fetch(`${app.url}/health/ready`);
    expect({ status: announced.status, body: await announced.json() }).toMatchObject({ status: 503, body: { error: { shutdown: { status: 'down' } } } });
    expect(await dependencyUp(app.url)).toEqual({ database: 1, redis: 1 });
    // SIGTERM's drain.
    app.shutDown();
    expect((await fetch(`${app.url}/health/ready`)).status).toBe(503);
    expect(await dependencyUp(app.url)).toEqual({ database: 1, redis: 1 });
  });

  it('is checked again when Prometheus scrapes once nothing has checked it lately (nothing probes under docker-compose)', async () => {
    const app = await serve({ freshMs: 50 });
    // Nothing has checked yet: the scrape checks both.
    expect(await dependencyUp(app.url)).toEqual({ database: 1, redis: 1 });
    expect(app.runs).toEqual({ database: 1, redis: 1 });
    app.up.redis = false;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await dependencyUp(app.url)).toEqual({ database: 1, redis: 0 });
    expect(app.runs).toEqual({ database: 2, redis: 2 });
  });

  it('is not checked again at a scrape while a probe checked it lately', async () => {
    const app = await serve();
    expect((await fetch(`${app.url}/health`)).status).toBe(200);
    expect(app.runs).toEqual({ database: 1, redis: 1 });
    expect(await dependencyUp(app.url)).toEqual({ database: 1, redis: 1 });
    expect(app.runs).toEqual({ database: 1, redis: 1 });
  });
});
