import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from '@jest/globals';
import amqp from 'amqplib';
import { freePort } from '../../support/service-process.js';
import { waitFor } from '../../support/wait-for.js';

const run = promisify(execFile);

/**
 * Debian's RabbitMQ scripts, run directly (/usr/sbin/rabbitmq-server would switch to the rabbitmq user and the
 * machine's node settings).
 */
const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';
export const RABBITMQ_SERVER = `${RABBITMQ_BIN}/rabbitmq-server`;
const RABBITMQCTL = `${RABBITMQ_BIN}/rabbitmqctl`;

/** Why a node of a test's own cannot be started here (the server is not installed), or undefined when it can. */
export function rabbitmqNodeUnavailable(): string | undefined {
  return existsSync(RABBITMQ_SERVER) && existsSync(RABBITMQCTL) ? undefined : `${RABBITMQ_SERVER} not found (Debian's rabbitmq-server package)`;
}

/**
 * What a suite that needs a node of its own does when the server is not installed. Under REQUIRE_RABBITMQ_SERVER (CI
 * sets it) it declares one failing test naming what is missing, so that a CI machine without the package cannot go
 * green by skipping; elsewhere it warns and declares one skipped test whose title says why. Call it first in the
 * suite's describe and return from the describe when it returns true:
 *   if (skipOrFailWithoutRabbitmqNode('own-node tests')) return;
 */
export function skipOrFailWithoutRabbitmqNode(skippedTests: string): boolean {
  const unavailable = rabbitmqNodeUnavailable();
  if (!unavailable) return false;
  if (process.env.REQUIRE_RABBITMQ_SERVER) {
    it('has rabbitmq-server (REQUIRE_RABBITMQ_SERVER is set)', () => {
      throw new Error(unavailable);
    });
  } else {
    const file = basename(expect.getState().testPath ?? 'this test file');
    // eslint-disable-next-line no-console
    console.warn(`${file} skipped: ${unavailable}. Set REQUIRE_RABBITMQ_SERVER=1 to make this a failure.`);
    it.skip(`${skippedTests} (skipped: ${unavailable})`, () => undefined);
  }
  return true;
}

/**
 * A RabbitMQ node of the test's own, for what cannot be done to the machine's shared broker: a small
 * `max_message_size`, a resource alarm (`rabbitmqctl set_vm_memory_high_watermark 0`). Everything it has is its own:
 * node name, AMQP port, distribution port, an epmd on a port of its own (the machine's epmd, if any, is not used, so
 * none is left behind on 4369), a home (its Erlang cookie, which its rabbitmqctl reads), and its configuration, data
 * and logs in a temporary directory removed at stop(). /etc/rabbitmq's files are not read. Starts in about 5 s.
 */
export class RabbitMqNode {
  private constructor(
    private readonly process: ChildProcess,
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
    readonly nodeName: string,
    readonly port: number,
    private readonly epmdPort: number,
    readonly logs: string[],
  ) {}

  /** Starts a node with these rabbitmq.conf lines (e.g. `max_message_size = 2097152`) and waits until it takes connections. */
  static async start(config: string[] = [], startTimeoutMs = 90_000): Promise<RabbitMqNode> {
    const dir = mkdtempSync(join(tmpdir(), 'rabbitmq-test-'));
    const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
    const nodeName = `rabbit-test-${process.pid}-${port}@localhost`;
    mkdirSync(join(dir, 'home'));
    writeFileSync(join(dir, 'rabbitmq.conf'), [`listeners.tcp.default = 127.0.0.1:${port}`, 'loopback_users = none', ...config, ''].join('\n'));
    writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
    writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
    // The machine's RabbitMQ and Erlang settings (RABBITMQ_*, ERL_* in this environment) are not the test node's.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(RABBITMQ_|ERL_)/.test(name)));
    const env: NodeJS.ProcessEnv = {
      ...inherited,
      HOME: join(dir, 'home'),
      RABBITMQ_NODENAME: nodeName,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distPort),
      ERL_EPMD_PORT: String(epmdPort),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      // An empty file instead of /etc/rabbitmq/rabbitmq-env.conf (which names the machine's node).
      RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
      RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
      RABBITMQ_LOGS: '-',
      RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    };
    const child = spawn(RABBITMQ_SERVER, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: string[] = [];
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    const node = new RabbitMqNode(child, dir, env, nodeName, port, epmdPort, logs);
    const exitedEarly = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => reject(new Error(`rabbitmq-server exited (${code ?? signal}) while starting: ${logs.slice(-5).join(' | ')}`))),
    );
    exitedEarly.catch(() => undefined);
    try {
      await Promise.race([
        exitedEarly,
        waitFor(
          `RabbitMQ node ${nodeName} on ${port}`,
          async () => {
            // A node that exited ends the wait (exitedEarly says why).
            if (child.exitCode !== null || child.signalCode !== null) return true;
            const connection = await amqp.connect(node.url).catch(() => undefined);
            await connection?.close().catch(() => undefined);
            return connection !== undefined;
          },
          { timeoutMs: startTimeoutMs, intervalMs: 250 },
        ),
      ]);
    } catch (error) {
      await node.stop();
      throw error;
    }
    return node;
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Runs this node's rabbitmqctl (e.g. `set_vm_memory_high_watermark 0`); resolves with its output. */
  async rabbitmqctl(...args: string[]): Promise<string> {
    const { stdout } = await run(RABBITMQCTL, ['-n', this.nodeName, ...args], { env: this.env, timeout: 60_000 });
    return stdout;
  }

  /** Stops the node (SIGTERM: the script stops it cleanly), its epmd, and removes its directory. */
  async stop(): Promise<void> {
    const child = this.process;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([exited.then(() => true), new Promise((resolve) => (timer = setTimeout(() => resolve(false), 30_000)))]);
      clearTimeout(timer);
      if (!stopped) {
        // The script did not get the VM down: kill the VM itself (its pid is in the pid file), then the script.
        const pid = Number(readFileSync(join(this.dir, 'rabbitmq.pid'), 'utf8').trim());
        if (pid > 0) process.kill(pid, 'SIGKILL');
        child.kill('SIGKILL');
        await exited;
      }
    }
    // The epmd the node started (on its own port) outlives it; no node is registered with it any more.
    await run('epmd', ['-port', String(this.epmdPort), '-kill'], { env: this.env, timeout: 10_000 }).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
