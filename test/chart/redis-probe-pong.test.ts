import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '../support/service-process.js';
import { one, renderChart } from './helm.js';

/**
 * The bundled Redis's probes ran `redis-cli ping`, which exits 0 whatever Redis answers: `LOADING Redis is loading
 * the dataset in memory` while it replays its AOF after a restart, `NOAUTH Authentication required.` when the probe's
 * password is wrong or missing. So the pod was Ready while every BullMQ command failed with LOADING (the ingress's
 * enqueues and the workers' claims), and a probe that cannot authenticate saw nothing wrong. Readiness must require
 * the answer PONG. Startup and liveness require PONG too, but for LOADING: a Redis replaying a large AOF is alive and
 * working, and killing it would start the replay again (a crash loop on a big backlog).
 *
 * The rendered probe commands run here against a real redis-server; a `redis-cli` first on PATH points the probe's
 * own redis-cli at the test's port (the pod's is the default 127.0.0.1:6379).
 */

const haveRedis = ['redis-server', 'redis-cli'].every((binary) => spawnSync('sh', ['-c', `command -v ${binary}`]).status === 0);
const PASSWORD = 'ProbePassw0rd1234567890abcdefgh';
const PROBES = ['startupProbe', 'livenessProbe', 'readinessProbe'] as const;
type Probe = (typeof PROBES)[number];

(haveRedis ? describe : describe.skip)('the bundled Redis probes, against a real redis-server (needs redis-server)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chart-redis-probe-'));
  const servers: ChildProcess[] = [];
  let container: any;

  beforeAll(() => {
    container = one(renderChart([], [`redis.auth.password=${PASSWORD}`]), 'StatefulSet', '-redis').spec.template.spec.containers[0];
    const realCli = spawnSync('sh', ['-c', 'command -v redis-cli'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(path.join(dir, 'redis-cli'), `#!/bin/sh\nexec ${realCli} -h 127.0.0.1 -p "$TEST_REDIS_PORT" "$@"\n`);
    chmodSync(path.join(dir, 'redis-cli'), 0o755);
  });

  afterAll(async () => {
    await Promise.all(
      servers.map((server) => (server.exitCode !== null || server.signalCode !== null ? undefined : new Promise((resolve) => server.once('exit', resolve).kill('SIGKILL')))),
    );
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (port: number, args: string[]) => spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000, env: { PATH: process.env.PATH ?? '', REDISCLI_AUTH: PASSWORD } });

  async function startRedis(extra: string[], dataDir: string): Promise<number> {
    const port = await freePort();
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dataDir, '--appendonly', 'no', '--requirepass', PASSWORD, ...extra], { stdio: 'ignore' });
    servers.push(server);
    for (let i = 0; i < 100; i++) {
      if (/PONG|LOADING/.test(cli(port, ['ping']).stdout)) return port;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('redis-server did not answer');
  }

  /** Whether each rendered probe passes, its exec command run as the kubelet would (the container's env: REDISCLI_AUTH). */
  function probeResults(port: number, auth: string | undefined): Record<Probe, boolean> {
    const results = {} as Record<Probe, boolean>;
    for (const probe of PROBES) {
      const [binary, ...args] = container[probe].exec.command as string[];
      const run = spawnSync(binary!, args, {
        encoding: 'utf8',
        timeout: 10_000,
        env: { PATH: `${dir}:${process.env.PATH ?? ''}`, TEST_REDIS_PORT: String(port), ...(auth === undefined ? {} : { REDISCLI_AUTH: auth }) },
      });
      results[probe] = run.status === 0;
    }
    return results;
  }

  let port: number;
  it('all pass against a Redis that answers PONG', async () => {
    port = await startRedis(['--save', ''], dir);
    expect(probeResults(port, PASSWORD)).toEqual({ startupProbe: true, livenessProbe: true, readinessProbe: true });
  });

  it('all fail when Redis refuses the probe (NOAUTH: a wrong password, or none)', () => {
    expect(cli(port, ['ping']).stdout.trim()).toBe('PONG');
    expect(probeResults(port, 'wrong-password')).toEqual({ startupProbe: false, livenessProbe: false, readinessProbe: false });
    expect(probeResults(port, undefined)).toEqual({ startupProbe: false, livenessProbe: false, readinessProbe: false });
  });

  it('all fail when nothing listens', async () => {
    expect(probeResults(await freePort(), PASSWORD)).toEqual({ startupProbe: false, livenessProbe: false, readinessProbe: false });
  });

  it('while Redis loads its dataset (LOADING): not ready, yet alive (startup and liveness pass)', async () => {
    // A dataset that takes seconds to load: 100,000 keys, each delayed 100 µs on load (Redis's key-load-delay).
    const dataDir = mkdtempSync(path.join(dir, 'data-'));
    const writer = await startRedis(['--save', '', '--enable-debug-command', 'yes'], dataDir);
    expect(cli(writer, ['debug', 'populate', '100000']).stdout.trim()).toBe('OK');
    expect(cli(writer, ['save']).stdout.trim()).toBe('OK');
    servers.at(-1)!.kill('SIGKILL');
    const loading = await startRedis(['--save', '', '--key-load-delay', '100', '--loading-process-events-interval-bytes', '1024'], dataDir);
    expect(cli(loading, ['ping']).stdout).toMatch(/^LOADING/);
    expect(probeResults(loading, PASSWORD)).toEqual({ startupProbe: true, livenessProbe: true, readinessProbe: false });
    expect(cli(loading, ['ping']).stdout).toMatch(/^LOADING/);
  });
});

if (!haveRedis) console.warn('redis-probe-pong.test.ts: redis-server or redis-cli not found; skipped.');
