import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../support/service-process.js';
import { canConnect } from '../../support/test-services.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * A nats-server of the scenario's own, JetStream on, file storage in a directory of its own that outlives restarts:
 * a test can restart "NATS" for real (SIGTERM, then the same port and store) without touching the machine's server.
 * Needs the `nats-server` binary.
 */
export class NatsServerProcess {
  private process?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'nats-test-'));
  readonly logs: string[] = [];

  private constructor(readonly port: number) {}

  static async create(): Promise<NatsServerProcess> {
    return new NatsServerProcess(await freePort());
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts the server; `extraArgs` are more nats-server flags (e.g. `--user`, `--pass`). */
  async start(extraArgs: string[] = []): Promise<void> {
    const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.dir, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => this.logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    this.process = child;
    await waitFor(`nats-server on ${this.port}`, () => canConnect('127.0.0.1', this.port, 200), { timeoutMs: 15_000 });
  }

  /** A clean stop (SIGTERM: JetStream flushes its store), waited for. */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    this.process = undefined;
  }

  async destroy(): Promise<void> {
    const child = this.process;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
