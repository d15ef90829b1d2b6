/**
 * The README's start commands as a newcomer runs them: `npm run start:ingress` and `npm run start:worker` side by
 * side on one machine, a start that skips the compile when dist/ is current, and `scripts/start.sh`, the command
 * for process managers, which drains on SIGTERM (npm does not pass SIGTERM on to its child).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, NO_DOTENV } from '../support/service-process.js';
import { canConnect } from '../support/test-services.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let db: TestDatabase;
let ns: TestQueueNamespace;
const children: ChildProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  // The first start of a checkout compiles; later ones must not.
  const build = spawnSync('bash', ['scripts/build-if-stale.sh'], { cwd: root, encoding: 'utf8' });
  expect(build.status).toBe(0);
}, 240_000);

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await ns?.cleanup();
  await db?.drop();
});

/** Starts a command in a process group of its own, collecting its output. */
function run(command: string, args: string[], env: Record<string, string | undefined>) {
  const child = spawn(command, args, {
    cwd: root,
    detached: true,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...NO_DOTENV, LOG_LEVEL: 'info', OTEL_SDK_DISABLED: 'true', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, output: () => output, exited };
}

const live = (port: number) => async () => (await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => undefined))?.status === 200;

describe('start commands', () => {
  it('build-if-stale does nothing when dist/ is newer than every source', () => {
    const again = spawnSync('bash', ['scripts/build-if-stale.sh'], { cwd: root, encoding: 'utf8' });
    expect(again.status).toBe(0);
    expect(again.stderr).not.toContain('compiling');
  });

  it('npm run start:ingress and npm run start:worker run side by side with no PORT set (3000 and 3001)', async () => {
    for (const port of [3000, 3001]) {
      if (await canConnect('127.0.0.1', port, 200)) throw new Error(`port ${port} is taken on this machine; the README's commands need it free`);
    }
    const ingress = run('npm', ['run', 'start:ingress'], { STRIPE_WEBHOOK_SECRET: 'whsec_side_by_side' });
    const worker = run('npm', ['run', 'start:worker'], {});
    await waitFor('ingress on 3000 and worker on 3001', async () => (await live(3000)()) && (await live(3001)()), { timeoutMs: 60_000 }).catch(
      (error: Error) => {
        throw new Error(`${error.message}\ningress:\n${ingress.output()}\nworker:\n${worker.output()}`);
      },
    );
    const roles = await Promise.all(
      [3000, 3001].map(async (port) => {
        const health = (await (await fetch(`http://127.0.0.1:${port}/health/ready`)).json()) as { status: string };
        return { port, ready: health.status };
      }),
    );
    expect(roles).toEqual([
      { port: 3000, ready: 'ok' },
      { port: 3001, ready: 'ok' },
    ]);
    expect(ingress.output()).toContain('"role":"ingress"');
    expect(worker.output()).toContain('"role":"worker"');
    expect(`${ingress.output()}${worker.output()}`).not.toContain('EADDRINUSE');
    // npm would orphan node on a SIGTERM of its own: stop each process group as a terminal's Ctrl-C does.
    for (const started of [ingress, worker]) process.kill(-started.child.pid!, 'SIGINT');
    await Promise.all([ingress.exited, worker.exited]);
  }, 120_000);

  it('scripts/start.sh is node itself: SIGTERM to the PID it was started as drains and exits 0', async () => {
    const port = await freePort();
    const service = run('scripts/start.sh', ['ingress'], { PORT: String(port), STRIPE_WEBHOOK_SECRET: 'whsec_drains' });
    await waitFor('the service to answer', live(port), { timeoutMs: 60_000 });
    expect(path.basename(readlinkSync(`/proc/${service.child.pid}/exe`))).toBe('node');
    service.child.kill('SIGTERM');
    const [code] = await service.exited;
    expect(code).toBe(0);
    expect(service.output()).toContain('shutdown complete');
  }, 120_000);

  it('scripts/start.sh with no role takes SERVICE_ROLE (and PORT) from the .env the service reads', async () => {
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'start-sh-dotenv-'));
    try {
      const dotenv = path.join(dir, 'service.env');
      writeFileSync(dotenv, `# a developer's .env\nSERVICE_ROLE=worker   # one role per process\nPORT="${port}"\n`);
      // DOTENV_CONFIG_PATH stands in for ./.env (the tests never write the repository's own).
      const service = run('scripts/start.sh', [], { DOTENV_CONFIG_PATH: dotenv });
      await waitFor('the worker from .env to answer on the .env PORT', live(port), { timeoutMs: 60_000 }).catch((error: Error) => {
        throw new Error(`${error.message}\n${service.output()}`);
      });
      expect(service.output()).toContain('"role":"worker"');
      service.child.kill('SIGTERM');
      expect((await service.exited)[0]).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('scripts/start.sh with no role takes SERVICE_ROLE with blanks around it, as the service does', async () => {
    // " worker " was refused here (exit 64) while the service itself reads it as worker.
    const port = await freePort();
    const service = run('scripts/start.sh', [], { SERVICE_ROLE: ' worker ', PORT: String(port) });
    await waitFor('the worker to answer', live(port), { timeoutMs: 60_000 }).catch((error: Error) => {
      throw new Error(`${error.message}\n${service.output()}`);
    });
    expect(service.output()).toContain('"role":"worker"');
    service.child.kill('SIGTERM');
    expect((await service.exited)[0]).toBe(0);
  }, 120_000);

  it('refuses an unknown role with one line', () => {
    const refused = spawnSync('bash', ['scripts/start.sh', 'ingres'], { cwd: root, encoding: 'utf8' });
    expect(refused.status).toBe(64);
    expect(refused.stderr.trim()).toBe("scripts/start.sh: role must be all, ingress or worker (got 'ingres')");
  });
});
