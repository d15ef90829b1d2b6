import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, NO_DOTENV, ServiceProcess, type ServiceProcessOptions } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STRIPE_SECRET = 'whsec_shutdown_test';
const SLOW_DELIVERY_MS = 1500;

let db: TestDatabase;
let ns: TestQueueNamespace;
let routes: TempRoutesFile;
const sink = new HttpSink();
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await sink.start();
  routes = writeRoutesFile({ destinations: { sink: { url: `${sink.url}/in`, timeoutMs: 20_000 } }, routes: [{ provider: 'stripe', to: ['sink'] }] });
});

afterEach(async () => {
  await Promise.all(processes.splice(0).map((child) => child.kill()));
});

afterAll(async () => {
  await Promise.all(processes.map((child) => child.kill()));
  await sink.stop();
  routes?.remove();
  await ns?.cleanup();
  await db?.drop();
});

async function startService(env: Record<string, string> = {}, options: ServiceProcessOptions = {}): Promise<ServiceProcess> {
  const child = new ServiceProcess(
    {
      SERVICE_ROLE: 'all',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      ROUTES_FILE: routes.path,
      JOB_BACKOFF_MS: '50',
      // Short locks, so a job cut off by a forced exit comes back to another process quickly.
      WORKER_LOCK_DURATION_MS: '1000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      RECONCILER_INTERVAL_MS: '60000',
      ...env,
    },
    await freePort(),
    options,
  );
  processes.push(child);
  return child.start();
}

async function send(baseUrl: string, label: string): Promise<string> {
  const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: `evt_${label}_${Date.now()}` });
  const response = await postWebhook(baseUrl, 'stripe', body, headers);
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

const eventRow = async (id: string) =>
  (await db.pool.query('SELECT status, attempts FROM webhook_events WHERE id = $1', [id])).rows[0] as { status: string; attempts: number };

describe('SIGTERM', () => {
  it('drains a delivery in flight: readiness turns 503, the delivery completes once, and the process exits 0', async () => {
    sink.behaviour = () => ({ status: 200, delayMs: SLOW_DELIVERY_MS });
    const service = await startService({ SHUTDOWN_TIMEOUT_MS: '15000' });
    expect((await fetch(`${service.baseUrl}/health/ready`)).status).toBe(200);

    const id = await send(service.baseUrl, 'drain');
    const received = await waitFor('the sink to receive the event', () => sink.requestsFor(id)[0]);
    service.signal('SIGTERM');

    // Poll readiness right after the signal: while the delivery drains, the pod must report not-ready.
    const seen: (number | string)[] = [];
    // What the draining worker exports as its concurrency, read once readiness is 503 (a running worker exports > 0).
    const concurrencyWhileDraining: string[] = [];
    const exit = service.exited(20_000);
    let exited = false;
    void exit.then(() => (exited = true), () => (exited = true));
    while (!exited) {
      const outcome = await fetch(`${service.baseUrl}/health/ready`, { signal: AbortSignal.timeout(1000) }).then(
        (response) => response.status,
        (error: Error) => `error: ${(error.cause as Error | undefined)?.message ?? error.message}`,
      );
      seen.push(outcome);
      if (outcome === 503 && concurrencyWhileDraining.length === 0) {
        const metrics = await fetch(`${service.baseUrl}/metrics`, { signal: AbortSignal.timeout(1000) }).then((response) => response.text(), () => '');
        const sample = /^webhook_worker_concurrency\{[^}]*\} (\S+)$/m.exec(metrics);
        if (sample) concurrencyWhileDraining.push(sample[1]!);
      }
      await delay(20);
    }
    // A draining worker takes no new jobs: it does not count as a running worker (the WebhookNoWorkers alert).
    expect(concurrencyWhileDraining).toEqual(['0']);
    // (A probe that raced the signal may still have seen 200; once 503, it never turns ready again.)
    const firstNotReady = seen.indexOf(503);
    expect(firstNotReady).toBeGreaterThanOrEqual(0);
    expect(seen.slice(firstNotReady).filter((outcome) => outcome !== 503 && !String(outcome).startsWith('error'))).toEqual([]);

    const { code, signal } = await exit;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    // It waited for the delivery rather than cutting it off: it exited after the sink answered, SLOW_DELIVERY_MS after
    // the request reached it (both read on this process's clock; a timer may fire a millisecond early by Date.now).
    // Counted from the signal instead, the bound lost whatever this process took to notice the request (a poll, and
    // longer on a loaded machine) and could fail on a drain that did wait.
    expect(Date.now() - received.at).toBeGreaterThanOrEqual(SLOW_DELIVERY_MS - 1);
    expect(sink.requestsFor(id)).toHaveLength(1);
    expect(await eventRow(id)).toEqual({ status: 'COMPLETED', attempts: 1 });
  });

  it('exits non-zero when the drain outlasts SHUTDOWN_TIMEOUT_MS, and another process completes the event later', async () => {
    // The first request takes far longer than the drain may; later ones answer at once.
    sink.behaviour = (_request, index) => ({ status: 200, delayMs: index === firstIndex ? 4000 : 0 });
    let firstIndex = sink.requests.length;
    const first = await startService({ SHUTDOWN_TIMEOUT_MS: '500' });
    const id = await send(first.baseUrl, 'timeout');
    await waitFor('the sink to receive the event', () => sink.requestsFor(id).length === 1);
    firstIndex = sink.requests.indexOf(sink.requestsFor(id)[0]!);
    first.signal('SIGTERM');

    const { code } = await first.exited(10_000);
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect((await eventRow(id)).status).toBe('PROCESSING');

    // The job's lock expires (WORKER_LOCK_DURATION_MS); the next process's stalled check takes it back.
    const second = await startService({ SHUTDOWN_TIMEOUT_MS: '15000' });
    const row = await waitFor('the event to complete in the second process', async () => {
      const current = await eventRow(id);
      return current.status === 'COMPLETED' ? current : undefined;
    });
    expect(row.attempts).toBe(2);
    expect(sink.requestsFor(id)).toHaveLength(2);
    expect(new Set(sink.requestsFor(id).map((request) => request.headers['webhook-id']))).toEqual(new Set([id]));
    second.signal('SIGTERM');
    expect((await second.exited(10_000)).code).toBe(0);
  });

  it('does not wait out an unreachable trace collector: buffered spans get a short flush, then the process exits 0', async () => {
    // A collector that accepts connections and never answers: the OTLP export would hang until its own timeout.
    const sockets = new Set<net.Socket>();
    const blackhole = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    try {
      sink.behaviour = () => ({ status: 200 });
      const { port } = blackhole.address() as net.AddressInfo;
      const service = await startService(
        {
          SHUTDOWN_TIMEOUT_MS: '15000',
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OTEL_EXPORTER_OTLP_TIMEOUT: '30000',
          // Spans stay buffered until shutdown flushes them.
          OTEL_BSP_SCHEDULE_DELAY: '60000',
        },
        { preloadTelemetry: true },
      );
      const id = await send(service.baseUrl, 'blackhole');
      await waitFor('the event to complete', async () => (await eventRow(id)).status === 'COMPLETED');
      service.signal('SIGTERM');
      // Within the drain's deadline (SHUTDOWN_TIMEOUT_MS, the pod's grace period): waiting for the export would have
      // taken the exporter's 30 s timeout. (A bound of 6 s was a speed figure: the drain, the 2 s flush and the
      // exit, on a loaded machine, may take longer and still be right.) Exit 0: the forced exit is 1.
      const { code } = await service.exited(15_000);
      expect(code).toBe(0);
      expect(service.logs.some((line) => line.includes('trace export did not finish'))).toBe(true);
    } finally {
      for (const socket of sockets) socket.destroy();
      blackhole.close();
    }
  });

  it('exits at once, non-zero, on a second signal during the drain', async () => {
    sink.behaviour = () => ({ status: 200, delayMs: 5000 });
    const service = await startService({ SHUTDOWN_TIMEOUT_MS: '20000' });
    const id = await send(service.baseUrl, 'second_signal');
    await waitFor('the sink to receive the event', () => sink.requestsFor(id).length === 1);
    service.signal('SIGTERM');
    await waitFor('the drain to begin', () => service.logs.some((line) => line.includes('signal received: draining')));
    service.signal('SIGINT');
    // Before the drain timeout (20 s, from the first signal) would have ended it, and before the delivery (5 s) had:
    // the event is still PROCESSING, its delivery cut off (a drain that waited for it would have exited 0).
    // A bound of 3 s after the second signal was a speed figure, not what this is about.
    const { code } = await service.exited(15_000);
    expect(code).toBe(1);
    expect(service.logs.some((line) => line.includes('second signal: forcing exit'))).toBe(true);
    expect((await eventRow(id)).status).toBe('PROCESSING');
  });
});

describe('configuration errors', () => {
  /** Runs the service entry point with `env` and collects its output and exit code. */
  function runMain(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'services/main.ts')], {
        cwd: root,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...NO_DOTENV, OTEL_SDK_DISABLED: 'true', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`service did not exit on a configuration error:\n${stdout}\n${stderr}`));
      }, 20_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  it.each([
    ['PORT', { PORT: 'abc' }],
    ['JOB_ATTEMPTS', { PORT: '0', JOB_ATTEMPTS: '0' }],
  ])('an invalid %s stops the process with one line on stderr naming it', async (variable, env) => {
    const { code, stderr } = await runMain(env);
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    const lines = stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
  });
});
