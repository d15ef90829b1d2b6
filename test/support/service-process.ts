import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * For every service process a test starts in the repository: the service reads no `.env` (DOTENV_CONFIG_PATH names
 * the file it reads, `/dev/null` none), so a developer's own `.env` never leaks into a test's configuration.
 */
export const NO_DOTENV = { DOTENV_CONFIG_PATH: '/dev/null' } as const;

/** Options for {@link ServiceProcess}; all optional, so `new ServiceProcess(env, port)` behaves as before. */
export interface ServiceProcessOptions {
  /**
   * Preload the OpenTelemetry instrumentation (`--import services/shared/telemetry/instrumentation.ts`), as the
   * npm start scripts and the image do, and turn tracing on (OTEL_SDK_DISABLED=false unless `env` says otherwise).
   */
  preloadTelemetry?: boolean;
  /** Extra node arguments, placed before the entry module. */
  nodeArgs?: string[];
}

/** A real service process (`services/main.ts` run by tsx), as the fault and shutdown tests need. */
export class ServiceProcess {
  readonly logs: string[] = [];
  private child?: ChildProcess;
  private exitPromise?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    private readonly env: Record<string, string | undefined>,
    readonly port: number,
    private readonly options: ServiceProcessOptions = {},
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process and waits until `/health/live` answers. */
  async start({ waitForReady = true }: { waitForReady?: boolean } = {}): Promise<this> {
    const { preloadTelemetry = false, nodeArgs = [] } = this.options;
    const args = [
      '--import',
      'tsx',
      ...(preloadTelemetry ? ['--import', './services/shared/telemetry/instrumentation.ts'] : []),
      ...nodeArgs,
      path.join(root, 'services/main.ts'),
    ];
    this.child = spawn(process.execPath, args, {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'test',
        ...NO_DOTENV,
        LOG_LEVEL: 'info',
        OTEL_SDK_DISABLED: preloadTelemetry ? 'false' : 'true',
        HOST: '127.0.0.1',
        PORT: String(this.port),
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Line-buffered per stream: a JSON line split across two chunks still arrives as one line.
    const collector = () => {
      let partial = '';
      return {
        data: (chunk: Buffer) => {
          const lines = (partial + chunk.toString('utf8')).split('\n');
          partial = lines.pop() ?? '';
          this.logs.push(...lines.filter(Boolean));
        },
        end: () => {
          if (partial) this.logs.push(partial);
          partial = '';
        },
      };
    };
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      const { data, end } = collector();
      stream.on('data', data);
      stream.on('end', end);
    }
    this.exitPromise = once(this.child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    if (waitForReady) {
      await waitFor(
        `service on port ${this.port} to answer /health/live`,
        async () => {
          if (this.child?.exitCode !== null) throw new Error(`service exited early:\n${this.logs.join('\n')}`);
          const response = await fetch(`${this.baseUrl}/health/live`).catch(() => undefined);
          return response?.status === 200;
        },
        // tsx compiles the service on the fly: on a loaded 2-core machine a start can take tens of seconds.
        { timeoutMs: 60_000, intervalMs: 100 },
      );
    }
    return this;
  }

  /**
   * For a process started with `waitForReady: false` that may refuse its configuration: true once `/health/ready`
   * answers 200, false once it has exited.
   */
  async readyOrExited(timeoutMs = 60_000): Promise<boolean> {
    await waitFor(
      'ready or exited',
      async () => this.exitState() !== undefined || (await fetch(`${this.baseUrl}/health/ready`).catch(() => undefined))?.status === 200,
      { timeoutMs },
    );
    return this.exitState() === undefined;
  }

  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Waits for the process to exit; resolves with its exit code and signal. */
  async exited(timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exitPromise) throw new Error('not started');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`process did not exit within ${timeoutMs} ms:\n${this.logs.slice(-20).join('\n')}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exitPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** How the process ended, or undefined while it runs. */
  exitState(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    if (!this.child || (this.child.exitCode === null && this.child.signalCode === null)) return undefined;
    return { code: this.child.exitCode, signal: this.child.signalCode };
  }

  /** Log lines parsed as JSON (non-JSON lines skipped). */
  jsonLogs(): Record<string, unknown>[] {
    return this.logs.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** Kills the process if it still runs (test clean-up). */
  async kill(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exitPromise;
    }
  }
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
