import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NO_DOTENV } from './service-process.js';
import { waitFor } from './wait-for.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * A start command of the docs run as written (`STRIPE_WEBHOOK_SECRET=whsec_demo npm start`), by bash in the
 * repository, as a reader types it. Only the environment around it is the test's: its port, database and queue
 * namespace, no `.env`, tracing off, and the loopback address. It runs in a process group of its own, because npm
 * does not pass signals on to the service it starts.
 */
export class ReadmeCommandProcess {
  private output = '';
  private child?: ChildProcess;
  private exited?: Promise<unknown>;

  constructor(
    readonly command: string,
    private readonly env: Record<string, string>,
    readonly port: number,
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What it wrote to stdout and stderr so far. */
  get logs(): string {
    return this.output;
  }

  /** Starts it and waits until the service answers `/health/live` (or the command has ended, which fails). */
  async start(): Promise<this> {
    const child = spawn('bash', ['-c', this.command], {
      cwd: root,
      detached: true,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...NO_DOTENV, OTEL_SDK_DISABLED: 'true', HOST: '127.0.0.1', PORT: String(this.port), ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = once(child, 'exit');
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    const outcome = await waitFor(
      `\`${this.command}\` serving on port ${this.port}`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) return 'ended';
        return (await fetch(`${this.baseUrl}/health/live`).catch(() => undefined))?.status === 200 && 'serving';
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    if (outcome === 'ended') throw new Error(`\`${this.command}\` ended before it served:\n${this.output}`);
    return this;
  }

  /** Kills its whole process group (npm, the script, node) and waits for the command's exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await this.exited;
  }
}
