/**
 * `npm run migrate` as the image runs it (node dist/services/migrate.js), as a child process a test can watch and stop.
 * The built output is what runs, so the first start in a jest worker builds it if the sources are newer
 * (scripts/build-if-stale.sh): a test file that starts one must not depend on another having built it first.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NO_DOTENV } from './service-process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let built = false;

/** Builds dist/ unless it is current; once per jest worker. Call it from beforeAll (with a long timeout). */
export function buildServiceOnce(): void {
  if (built) return;
  const build = spawnSync('bash', ['scripts/build-if-stale.sh'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`scripts/build-if-stale.sh exited ${build.status}: ${build.stderr.slice(-2000)}`);
  built = true;
}

export class MigrateProcess {
  readonly output = { stdout: '', stderr: '' };
  /** The exit code once it has exited (null when a signal ended it), undefined while it runs. */
  exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  /** Starts it against `databaseUrl` with no .env, tracing off and LOG_LEVEL=warn, plus `env`. */
  constructor(databaseUrl: string, env: Record<string, string> = {}) {
    buildServiceOnce();
    this.child = spawn('bash', ['scripts/node.sh', 'dist/services/migrate.js'], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...NO_DOTENV, OTEL_SDK_DISABLED: 'true', LOG_LEVEL: 'warn', DATABASE_URL: databaseUrl, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output.stdout += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve((this.exitCode = code))));
  }

  /** The `Migrations failed: …` lines it printed on stderr. */
  failures(): string[] {
    return this.output.stderr.split('\n').filter((line) => line.startsWith('Migrations failed:'));
  }

  /** Its JSON log lines (stdout). */
  logLines(): Record<string, unknown>[] {
    return this.output.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exitCode === undefined) this.child.kill(signal);
  }
}
