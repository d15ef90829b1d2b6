import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { find, one, podSpecOf, renderChart, valueSets, type K8sObject } from './helm.js';

/**
 * Secrets never travel on a command line. The kubelet expands `$(VAR)` in a container's command and args before it
 * hands them to the container runtime: the result is kept in the container's config on the node (crictl inspect)
 * and is what `ps` shows to anyone on the node. So no rendered command, args or probe may name a Secret-sourced
 * variable or carry a secret's value. The bundled Redis is then started for real, from exactly the rendered command
 * line (with the kubelet's expansion), to show that the password still takes effect.
 */

const redisPassword = 'RenderedRedisPassw0rd1234567890A';
const postgresPassword = 'RenderedPostgresPassw0rd12345678';
const fixed = [`redis.auth.password=${redisPassword}`, `postgresql.auth.password=${postgresPassword}`, 'secrets.adminApiToken=RenderedAdminToken1234567890'];

/** What the kubelet does to command and args: `$(NAME)` of a variable defined in the container's env becomes its
 * value, `$$` becomes `$`, anything else stays (k8s.io/kubernetes third_party/forked/golang/expansion). */
function expandLikeKubelet(input: string, env: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    if (input[i] !== '$' || i + 1 >= input.length) {
      out += input[i];
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i += 1;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close === -1) {
        out += '$(';
        i += 1;
      } else {
        const name = input.slice(i + 2, close);
        out += name in env ? env[name] : `$(${name})`;
        i = close;
      }
    } else {
      out += `$${next}`;
      i += 1;
    }
  }
  return out;
}

interface Container {
  where: string;
  spec: any;
}

function containersOf(objects: K8sObject[]): Container[] {
  const result: Container[] = [];
  for (const object of objects) {
    const spec = podSpecOf(object);
    if (!spec) continue;
    for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
      result.push({ where: `${object.kind}/${object.metadata.name}/${container.name}`, spec: container });
    }
  }
  return result;
}

/** Every command line a container's process or its probes run with: command + args, and each exec probe/hook. */
function commandLines(container: any): string[][] {
  const lines: string[][] = [[...(container.command ?? []), ...(container.args ?? [])]];
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    if (container[probe]?.exec?.command) lines.push(container[probe].exec.command);
  }
  for (const hook of ['postStart', 'preStop']) {
    if (container.lifecycle?.[hook]?.exec?.command) lines.push(container.lifecycle[hook].exec.command);
  }
  return lines;
}

function secretValues(objects: K8sObject[]): string[] {
  return find(objects, 'Secret')
    .flatMap((secret) => [
      ...Object.values(secret.data ?? {}).map((value) => Buffer.from(value, 'base64').toString('utf8')),
      ...Object.values(secret.stringData ?? {}),
    ])
    .filter((value) => value.length >= 8);
}

describe('no secret on a command line', () => {
  const cases: Array<[string, string[], string[]]> = [
    ...valueSets().map((set): [string, string[], string[]] => [set, [set], fixed]),
    ['defaults, external services with chart-made Secrets', [], ['postgresql.enabled=false', 'externalDatabase.host=db', 'externalDatabase.password=ExternalDbPassw0rd', 'redis.enabled=false', 'externalRedis.host=r', 'externalRedis.password=ExternalRedisPassw0rd']],
    ['defaults, Redis password from an existing Secret', [], ['redis.auth.existingSecret=my-redis', 'redis.auth.existingSecretPasswordKey=pw']],
  ];

  it.each(cases)('%s: command, args and exec probes name no Secret-sourced variable and carry no secret value', (_name, files, set) => {
    const objects = renderChart(files, set);
    const values = secretValues(objects);
    for (const { where, spec } of containersOf(objects)) {
      const secretVariables = (spec.env ?? []).filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => e.name as string);
      // A variable built from a secret by $(VAR) expansion in env (DATABASE_URL, REDIS_URL) is as secret.
      const derived = (spec.env ?? []).filter((e: any) => typeof e.value === 'string' && secretVariables.some((name: string) => e.value.includes(`$(${name})`))).map((e: any) => e.name as string);
      for (const line of commandLines(spec)) {
        const text = line.join(' ');
        for (const name of [...secretVariables, ...derived]) {
          expect({ where, line: text, expands: name, found: text.includes(`$(${name})`) }).toEqual({ where, line: text, expands: name, found: false });
        }
        for (const value of values) expect({ where, carriesSecret: text.includes(value) }).toEqual({ where, carriesSecret: false });
        // No password flags at all (redis-cli -a, --pass, --requirepass): REDISCLI_AUTH / stdin instead.
        expect({ where, flags: line.filter((arg) => ['-a', '--pass', '--requirepass', '--user'].includes(arg)) }).toEqual({ where, flags: [] });
      }
    }
  });

  it('the bundled Redis: the probes authenticate through REDISCLI_AUTH from the Secret; no auth, no wrapper', () => {
    const redis = one(renderChart([], fixed), 'StatefulSet', '-redis').spec.template.spec.containers[0];
    const env = Object.fromEntries((redis.env as any[]).map((e) => [e.name, e]));
    expect(env.REDISCLI_AUTH.valueFrom.secretKeyRef).toEqual({ name: 'eis-event-integration-service-redis', key: 'redis-password' });
    // sh compares redis-cli's answer (test/chart/redis-probe-pong.test.ts); the password comes from REDISCLI_AUTH.
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect(redis[probe].exec.command).toEqual(['sh', '-c', expect.stringContaining('"$(redis-cli ping)"')]);

    const open = one(renderChart([], ['redis.auth.enabled=false']), 'StatefulSet', '-redis').spec.template.spec.containers[0];
    expect(open.command).toEqual(['redis-server']);
    expect(open.env).toBeUndefined();
  });
});

const haveRedis = ['redis-server', 'redis-cli'].every((binary) => spawnSync('sh', ['-c', `command -v ${binary}`]).status === 0);

async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    // Never the machine's own Redis.
    if (port !== 6379) return port;
  }
}

/** The rendered Redis container, its env resolved as the kubelet would (Secret values given by the test). */
function redisContainer(set: string[], secretData: Record<string, string>) {
  const container = one(renderChart([], set), 'StatefulSet', '-redis').spec.template.spec.containers[0];
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    env[variable.name] = ref ? secretData[ref.key]! : expandLikeKubelet(variable.value ?? '', env);
  }
  const argv = [...container.command, ...container.args].map((arg: string) => expandLikeKubelet(arg, env));
  return { container, env, argv };
}

(haveRedis ? describe : describe.skip)('the bundled Redis, started from its rendered command line (needs redis-server)', () => {
  // An existing Secret may hold anything: spaces, quotes, backslashes, $, a newline, non-ASCII.
  const password = `p@ss "w\\rd' $x $(REDIS_PASSWORD) é\nline2`;
  let dir: string;
  let port: number;
  let child: ChildProcess;
  let stderr = '';
  let exited: Promise<number | null>;
  let argv: string[];
  let env: Record<string, string>;
  let container: any;

  const cli = (args: string[], auth?: string) =>
    spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
      encoding: 'utf8',
      timeout: 5000,
      env: { PATH: process.env.PATH ?? '', ...(auth === undefined ? {} : { REDISCLI_AUTH: auth }) },
    });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'chart-redis-'));
    port = await freePort();
    ({ container, env, argv } = redisContainer(['redis.auth.existingSecret=user-redis', 'redis.auth.existingSecretPasswordKey=pw'], { pw: password }));
    // The pod's volume and port, here: a scratch directory and a free port on loopback (the test adds them; the
    // rendered arguments stay as they are).
    const local = argv.map((arg, index) => (argv[index - 1] === '--dir' ? dir : arg));
    child = spawn(local[0]!, [...local.slice(1), '--port', String(port), '--bind', '127.0.0.1'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    for (let i = 0; i < 100; i++) {
      if (cli(['ping'], password).stdout.trim() === 'PONG') return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`redis did not come up: ${stderr}`);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('what the kubelet hands the runtime (command and args, expanded) does not hold the password', () => {
    expect(argv.join('\0')).not.toContain(password);
    expect(argv.some((arg) => arg.includes('p@ss'))).toBe(false);
  });

  it('requires the password: refused without it or with a wrong one, accepted with it', () => {
    expect(cli(['ping']).stdout).toContain('NOAUTH');
    expect(`${cli(['ping'], 'wrong').stdout}${cli(['ping'], 'wrong').stderr}`).toMatch(/WRONGPASS|invalid password/i);
    expect(cli(['ping'], password).stdout.trim()).toBe('PONG');
  });

  it('the rendered probes pass with REDISCLI_AUTH (their redis-cli pointed at this port)', () => {
    // A redis-cli first on PATH that adds this server's address (the pod's is the default 127.0.0.1:6379).
    const realCli = spawnSync('sh', ['-c', 'command -v redis-cli'], { encoding: 'utf8' }).stdout.trim();
    const bin = mkdtempSync(path.join(dir, 'bin-'));
    writeFileSync(path.join(bin, 'redis-cli'), `#!/bin/sh\nexec ${realCli} -h 127.0.0.1 -p ${port} "$@"\n`, { mode: 0o755 });
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const [binary, ...rest] = container[probe].exec.command as string[];
      const run = spawnSync(binary!, rest, { encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH ?? ''}`, ...env } });
      expect({ probe, status: run.status }).toEqual({ probe, status: 0 });
      const refused = spawnSync(binary!, rest, { encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH ?? ''}`, ...env, REDISCLI_AUTH: 'wrong' } });
      expect({ probe, status: refused.status }).toEqual({ probe, status: 1 });
    }
  });

  it('the rendered arguments reach Redis (noeviction, appendonly)', () => {
    expect(cli(['config', 'get', 'maxmemory-policy'], password).stdout.split('\n')[1]).toBe('noeviction');
    expect(cli(['config', 'get', 'appendonly'], password).stdout.split('\n')[1]).toBe('yes');
  });

  // Redis rewrites its own process title (and the environment block behind it) once it runs, so these two hold for
  // any way of passing the password after start-up; the argv check above is the one about what the node records.
  it('the running process is redis-server itself (exec: it gets SIGTERM), with neither the password on its command line nor in its environment', () => {
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
    expect(cmdline).toMatch(/^redis-server/);
    expect(cmdline).not.toContain('p@ss');
    const environ = readFileSync(`/proc/${child.pid}/environ`, 'utf8');
    expect(environ).not.toContain('p@ss');
    expect(environ).not.toMatch(/REDIS_PASSWORD|REDISCLI_AUTH/);
  });

  it('stops cleanly on SIGTERM', async () => {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('refuses to start without a password when the Secret holds an empty one', async () => {
    const empty = redisContainer(['redis.auth.existingSecret=user-redis', 'redis.auth.existingSecretPasswordKey=pw'], { pw: '' });
    const emptyPort = await freePort();
    const run = spawnSync(empty.argv[0]!, [...empty.argv.slice(1).map((arg, index, all) => (all[index - 1] === '--dir' ? dir : arg)), '--port', String(emptyPort), '--bind', '127.0.0.1'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 10_000,
      env: { PATH: process.env.PATH ?? '', ...empty.env },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('is empty; refusing to start');
  });
});

if (!haveRedis) console.warn('redis-password.test.ts: redis-server or redis-cli not found; the real-Redis checks are skipped.');
