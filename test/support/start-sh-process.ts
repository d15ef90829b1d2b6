import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { NO_DOTENV } from './service-process.js';
import type { TestDatabase } from './test-database.js';
import type { TestQueueNamespace } from './test-redis.js';

export interface StartShOptions {
  /** The working directory it is started from (a process manager's WorkingDirectory=, say). */
  cwd: string;
  db: TestDatabase;
  ns: TestQueueNamespace;
  /** Over the rest (PORT, HOST, ROUTES_FILE, a provider's secret…). */
  env?: Record<string, string>;
}

/**
 * `scripts/start.sh ROLE` as a process manager runs it: from a working directory of its own, with only the
 * environment it is given (no .env, tracing off) on a test's database and queue namespace. What it writes to stdout
 * and stderr is kept as one text (`output`), where a failed start says why.
 */
export class StartShProcess {
  output = '';
  private readonly child: ChildProcess;

  /** Starts `script` (a start.sh, of this repository or of a copy of it) with `role`. */
  constructor(script: string, role: string, { cwd, db, ns, env = {} }: StartShOptions) {
    this.child = spawn(script, [role], {
      cwd,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...NO_DOTENV,
        OTEL_SDK_DISABLED: 'true',
        DATABASE_URL: db.url,
        REDIS_URL: ns.redisUrl,
        QUEUE_PREFIX: ns.prefix,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  /** Its exit code once it has exited; null while it runs (or when a signal ended it). */
  get exitCode(): number | null {
    return this.child.exitCode;
  }

  /** Kills it (SIGKILL) unless it has ended already, and waits for its exit. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await once(this.child, 'exit');
  }
}
