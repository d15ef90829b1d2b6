import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

// Jest loads this file outside the test module system, so it imports nothing of the project's.

/** Whether something accepts TCP connections at host:port; with `greeting`, also what it says first (or undefined). */
function probe(host: string, port: number, { timeoutMs = 1000, send }: { timeoutMs?: number; send?: Buffer } = {}): Promise<{ up: boolean; greeting?: Buffer }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let connected = false;
    const done = (greeting?: Buffer) => {
      socket.destroy();
      resolve({ up: connected, greeting });
    };
    socket.setTimeout(timeoutMs, () => done());
    socket.once('connect', () => {
      connected = true;
      if (send) socket.write(send);
    });
    socket.once('data', (chunk: Buffer) => done(chunk));
    socket.once('error', () => done());
    socket.once('close', () => done());
  });
}

const canConnect = async (host: string, port: number) => (await probe(host, port)).up;

/** The parts of jest's configuration the selection below reads (jest passes its global and project configs). */
export interface SelectionConfig {
  rootDir: string;
  testMatch?: string[];
  testPathIgnorePatterns?: string[];
  testPathPatterns?: { toExecutor(options: { rootDir: string }): { isMatch(absPath: string): boolean } };
}

/** What a test file needs beyond PostgreSQL and Redis, read from what it imports. */
export const needsBrokers = (source: string) => /support\/broker-taps\.js/.test(source);
export const needsBrowser = (source: string) => /support\/browser\.js/.test(source);

/** `<rootDir>/test/**\/*.test.ts`-style globs (`*`, `**`, `?`); anything fancier is taken to match. */
function globMatcher(glob: string): (file: string) => boolean {
  if (/[[{}!]/.test(glob)) return () => true;
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i]!;
    if (char === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        source += '(?:.*/)?';
      } else source += '.*';
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  const regex = new RegExp(`^${source}$`);
  return (file) => regex.test(file);
}

function listTestFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : listTestFiles(full);
    return entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

/**
 * The test files this jest run will run, as far as the command line says (paths or patterns; `npm run test:unit`
 * selects test/unit only): over-selecting is harmless (a service checked that no test needed), missing one is not.
 */
export function selectedTestFiles(globalConfig: SelectionConfig, projectConfig: SelectionConfig): string[] {
  const rootDir = projectConfig.rootDir ?? globalConfig.rootDir;
  const matchers = (projectConfig.testMatch ?? []).map(globMatcher);
  const ignored = (projectConfig.testPathIgnorePatterns ?? []).map((pattern) => new RegExp(pattern));
  const patterns = globalConfig.testPathPatterns?.toExecutor({ rootDir });
  return listTestFiles(path.join(rootDir, 'test')).filter(
    (file) =>
      (matchers.length === 0 || matchers.some((matches) => matches(file))) &&
      !ignored.some((pattern) => pattern.test(file)) &&
      (!patterns || patterns.isMatch(file)),
  );
}

/** host:port of a URL, credentials left out. */
const where = (url: URL, defaultPort: number) => `${url.hostname}:${url.port || defaultPort}`;

/**
 * What the selected tests need besides PostgreSQL and Redis, checked before any test runs: RabbitMQ and NATS with
 * JetStream for the broker tests, chromium for the browser tests. Returns one problem per missing service, each
 * naming where it was looked for and the variable that points elsewhere; empty when everything answers.
 */
export async function missingTestServices(env: NodeJS.ProcessEnv, files: string[]): Promise<string[]> {
  const sources = files.map((file) => readFileSync(file, 'utf8'));
  const problems: string[] = [];
  const users = (needs: (source: string) => boolean) => {
    const using = files.filter((_, index) => needs(sources[index]!)).map((file) => path.relative(process.cwd(), file));
    return using.length === 1 ? using[0]! : `${using[0]} and ${using.length - 1} more`;
  };
  if (sources.some(needsBrokers)) {
    const amqpUrl = new URL(env.TEST_AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672');
    const natsUrl = new URL(env.TEST_NATS_URL || 'nats://127.0.0.1:4222');
    const tls = amqpUrl.protocol === 'amqps:';
    const [amqp, nats] = await Promise.all([
      // The AMQP 0-9-1 protocol header: RabbitMQ answers with a method frame (type 1, Connection.Start).
      probe(amqpUrl.hostname, Number(amqpUrl.port || (tls ? 5671 : 5672)), { timeoutMs: 2000, send: tls ? undefined : Buffer.from('AMQP\x00\x00\x09\x01', 'latin1') }),
      // A NATS server says INFO {...} first; with JetStream on, the INFO has "jetstream":true.
      probe(natsUrl.hostname, Number(natsUrl.port || 4222), { timeoutMs: 2000 }),
    ]);
    const amqpAt = where(amqpUrl, tls ? 5671 : 5672);
    if (!amqp.up) problems.push(`RabbitMQ is not reachable at ${amqpAt} (set TEST_AMQP_URL to point elsewhere; needed by ${users(needsBrokers)})`);
    else if (!tls && amqp.greeting?.[0] !== 1) problems.push(`what answers at ${amqpAt} is not RabbitMQ (set TEST_AMQP_URL to point elsewhere)`);
    const natsAt = where(natsUrl, 4222);
    const info = nats.greeting?.toString('utf8') ?? '';
    if (!nats.up) problems.push(`NATS is not reachable at ${natsAt} (run nats-server -js, or set TEST_NATS_URL to point elsewhere; needed by ${users(needsBrokers)})`);
    else if (!info.startsWith('INFO ')) problems.push(`what answers at ${natsAt} is not NATS (set TEST_NATS_URL to point elsewhere)`);
    else if (!/"jetstream"\s*:\s*true/.test(info)) problems.push(`NATS at ${natsAt} runs without JetStream (start nats-server with -js, or set TEST_NATS_URL)`);
  }
  if (env.SKIP_BROWSER_TESTS !== '1' && sources.some(needsBrowser)) {
    const chromium = env.CHROMIUM_PATH || '/usr/bin/chromium';
    try {
      accessSync(chromium, constants.X_OK);
    } catch {
      problems.push(`chromium is not at ${chromium} (apt-get install chromium, set CHROMIUM_PATH to point elsewhere, or SKIP_BROWSER_TESTS=1 to skip ${users(needsBrowser)})`);
    }
  }
  return problems;
}

/**
 * Finds the PostgreSQL and Redis the suite runs against: DATABASE_URL / REDIS_URL when set, else localhost.
 * When neither answers and a Docker engine does, starts both with testcontainers. No mock ever stands in.
 * Then checks, before any test runs, what the selected tests need besides them (brokers, chromium): a machine
 * without one fails here, at once and with one message, rather than test by test minutes into the run.
 */
export default async function globalSetup(globalConfig: SelectionConfig, projectConfig: SelectionConfig): Promise<void> {
  const databaseUrl = new URL(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0');
  const [pgUp, redisUp, missing] = await Promise.all([
    canConnect(databaseUrl.hostname, Number(databaseUrl.port || 5432)),
    canConnect(redisUrl.hostname, Number(redisUrl.port || 6379)),
    missingTestServices(process.env, selectedTestFiles(globalConfig, projectConfig)),
  ]);
  const base: string[] = [];
  if (!(pgUp && redisUp) && !dockerAvailable()) {
    if (!pgUp) base.push(`PostgreSQL is not reachable at ${where(databaseUrl, 5432)} (set DATABASE_URL to point elsewhere, or run a Docker engine for testcontainers)`);
    if (!redisUp) base.push(`Redis is not reachable at ${where(redisUrl, 6379)} (set REDIS_URL to point elsewhere, or run a Docker engine for testcontainers)`);
  }
  const problems = [...base, ...missing];
  if (problems.length > 0) throw new Error(`The tests cannot run: ${problems.join('; ')}.`);
  if (pgUp && redisUp) {
    process.env.DATABASE_URL = databaseUrl.toString();
    process.env.REDIS_URL = redisUrl.toString();
    return;
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const { RedisContainer } = await import('@testcontainers/redis');
  if (!pgUp) {
    const postgres = await new PostgreSqlContainer('postgres:16-alpine').withUsername('postgres').withPassword('postgres').start();
    process.env.DATABASE_URL = postgres.getConnectionUri();
    (globalThis as Record<string, unknown>).__POSTGRES_CONTAINER__ = postgres;
  }
  if (!redisUp) {
    const redis = await new RedisContainer('redis:7-alpine').start();
    process.env.REDIS_URL = redis.getConnectionUrl();
    (globalThis as Record<string, unknown>).__REDIS_CONTAINER__ = redis;
  }
}

function dockerAvailable(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}
