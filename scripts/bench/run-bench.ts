/**
 * `npm run bench`: one command, one machine, one run.
 *
 *  1. baselines — PostgreSQL alone doing what a naive ingress does per request: a single-row
 *     `INSERT … ON CONFLICT DO NOTHING RETURNING` of the same ~2 KB row, from N concurrent clients: pgbench (the
 *     server's own load generator, pgbench.ts) and the Node pg client (pg-load.ts, child process), each into a
 *     fresh database of its own (`--baseline=node|pgbench|both`);
 *  2. service  — the built service as it deploys (an ingress process and a worker process), loaded with signed
 *     Stripe webhooks by autocannon (child process) at the same concurrency; then the time until every accepted
 *     event is COMPLETED, the end-to-end rate and the ingest-to-delivery lag (a local sink records `webhook-id`s).
 *     With `--sweep`, instead: the same pair loaded at increasing offered rates (fractions of the baseline rate),
 *     one step after another, written as a latency chart (latency-chart.ts) and its data;
 *  3. check    — nothing lost or doubled: every 202 has its row, every row is COMPLETED, the sink got each event
 *     exactly once.
 *
 * Prints a table, then (last line of stdout) a one-line JSON summary. Progress goes to stderr.
 * Exit code: 0 when the run completed and the check passed (targets are reported, not enforced), 1 otherwise.
 * Options: see options.ts (`--duration=20 --connections=64 --payload=2048 …`).
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, setPriority, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import winston from 'winston';
import { runMigrations } from '../../services/shared/database/run-migrations.js';
import { readChartRoleEnv } from './chart-env.js';
import type { HttpLoadResult, HttpLoadRun } from './http-load.js';
import { collectCpuProfiles, cpuProfileStaging } from './cpu-profiles.js';
import { chartInputFromSweepData, renderLatencyChart } from './latency-chart.js';
import { parseOptions, type BenchOptions, type SweepStep } from './options.js';
import {
  countCompletedBetween,
  findPgbench,
  parsePgbenchOutput,
  parseTransactionLog,
  pgbenchArgs,
  pgbenchPayload,
  pgbenchScript,
  readTransactionLogFiles,
  type PgbenchOutput,
} from './pgbench.js';
import type { PgLoadResult, PgLoadRun } from './pg-load.js';
import { cpuSnapshot, cpuUsage, RssSampler, schedulingPerEvent, threadScheduling, type CpuSnapshot, type ThreadScheduling } from './proc-stats.js';
import { percentiles, type Percentiles } from './stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGETS = { ratio: 1.0, p99Ms: 50, endToEndShare: 0.5, rssMb: 300 };
const STRIPE_SECRET = `whsec_bench_${randomBytes(12).toString('hex')}`;

const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------------------------------------------------------
// Resources, all released by cleanup() whatever happens.

interface Resources {
  databases: string[];
  queuePrefix?: string;
  tmpDirs: string[];
  processes: ChildProcess[];
  sink?: Server;
}
const resources: Resources = { databases: [], tmpDirs: [], processes: [] };

function databaseUrl(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdminClient<T>(options: BenchOptions, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl(options.databaseUrl, 'postgres'), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function createBenchDatabase(options: BenchOptions, name: string): Promise<string> {
  const url = databaseUrl(options.databaseUrl, name);
  resources.databases.push(name);
  const silent = winston.createLogger({ silent: true });
  await runMigrations({ url, logger: silent });
  return url;
}

let cleaning: Promise<void> | undefined;
function cleanup(options: BenchOptions): Promise<void> {
  return (cleaning ??= (async () => {
    for (const child of resources.processes) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    if (resources.sink) {
      resources.sink.closeAllConnections();
      resources.sink.close();
    }
    if (options.keep) {
      log(`--keep: leaving databases ${resources.databases.join(', ')} and queue prefix ${resources.queuePrefix}`);
    } else {
      for (const name of resources.databases) {
        await withAdminClient(options, (client) => client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)).catch(
          (error: unknown) => log(`could not drop ${name}: ${(error as Error).message}`),
        );
      }
      if (resources.queuePrefix) await deleteQueueKeys(options.redisUrl, resources.queuePrefix).catch((error: unknown) => log(`could not delete queue keys: ${(error as Error).message}`));
    }
    for (const dir of resources.tmpDirs) rmSync(dir, { recursive: true, force: true });
  })());
}

async function deleteQueueKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes.

/** A load-generator child (tsx), driven over IPC. */
class LoadChild<Run extends { type: 'run' }, Result> {
  readonly child: ChildProcess;
  private readonly ready: Promise<unknown>;

  constructor(script: string) {
    this.child = fork(path.join(root, 'scripts/bench', script), [], {
      cwd: root,
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    resources.processes.push(this.child);
    this.ready = this.next('ready');
  }

  async run(params: Run): Promise<Result> {
    await this.ready;
    const answer = this.next('result');
    this.child.send(params);
    return answer as Promise<Result>;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    if (this.child.connected) this.child.send({ type: 'close' });
    this.child.disconnect?.();
    await Promise.race([exited, delay(5000).then(() => this.child.kill('SIGKILL'))]);
  }

  private next(type: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: { type: string; message?: string }) => {
        if (message.type === type) done(() => resolve(message));
        else if (message.type === 'error') done(() => reject(new Error(`load generator failed: ${message.message}`)));
      };
      const onExit = (code: number | null) => done(() => reject(new Error(`load generator exited (${code}) before sending '${type}'`)));
      const done = (settle: () => void) => {
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        settle();
      };
      this.child.on('message', onMessage);
      this.child.on('exit', onExit);
    });
  }
}

/** A service process started from dist/, as `npm run start:<role>` starts it. */
class ServiceChild {
  readonly child: ChildProcess;
  readonly tail: string[] = [];
  warnings = 0;
  errors = 0;
  private readonly exited: Promise<number | null>;

  constructor(
    readonly role: 'ingress' | 'worker',
    readonly port: number,
    env: Record<string, string>,
    cpuProfDir?: string,
  ) {
    // Node's own profile names (one file per thread), gathered under the role's name once the process exits.
    const stamp = Date.now();
    const profiling = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileStaging(cpuProfDir, role, stamp)}`] : [];
    this.child = spawn(
      process.execPath,
      [...profiling, '--max-semi-space-size=16', '--max-old-space-size=256', '--import', './dist/services/shared/telemetry/instrumentation.js', 'dist/services/main.js'], // as npm start and the image run it
      { cwd: root, env: { ...env, SERVICE_ROLE: role, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    resources.processes.push(this.child);
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        if (line.includes('"level":"warn"')) this.warnings++;
        if (line.includes('"level":"error"')) this.errors++;
        this.tail.push(line);
        if (this.tail.length > 50) this.tail.shift();
      }
    };
    this.child.stdout!.on('data', collect);
    this.child.stderr!.on('data', collect);
    this.exited = once(this.child, 'exit').then(([code]) => {
      if (cpuProfDir) collectCpuProfiles(cpuProfDir, role, stamp);
      return code as number | null;
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`${this.role} exited early (${this.child.exitCode}):\n${this.tail.join('\n')}`);
      const response = await fetch(`http://127.0.0.1:${this.port}/health/ready`).catch(() => undefined);
      if (response?.status === 200) return;
      await delay(100);
    }
    throw new Error(`${this.role} not ready within ${timeoutMs} ms:\n${this.tail.join('\n')}`);
  }

  /** Heap and external memory in MiB, from the process's own /metrics (prom-client default metrics). */
  async memory(): Promise<Record<string, number> | undefined> {
    const text = await fetch(`http://127.0.0.1:${this.port}/metrics`)
      .then((response) => response.text())
      .catch(() => undefined);
    if (!text) return undefined;
    const read = (name: string) => {
      const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
      return match ? round(Number(match[1]) / 1048576) : undefined;
    };
    return {
      rss: read('process_resident_memory_bytes') ?? 0,
      heapTotal: read('nodejs_heap_size_total_bytes') ?? 0,
      heapUsed: read('nodejs_heap_size_used_bytes') ?? 0,
      external: read('nodejs_external_memory_bytes') ?? 0,
      newSpace: read('nodejs_heap_space_size_total_bytes\\{space="new"\\}') ?? 0,
      oldSpace: read('nodejs_heap_space_size_total_bytes\\{space="old"\\}') ?? 0,
    };
  }

  /** SIGTERM (graceful drain); SIGKILL after `timeoutMs`. Resolves with the exit code. */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The destination: answers 200 at once and records when each `webhook-id` arrived, and how often. */
async function startSink(): Promise<{ url: string; received: Map<string, { count: number; firstAt: number }>; total: () => number }> {
  const received = new Map<string, { count: number; firstAt: number }>();
  let total = 0;
  const server = createServer((req, res) => {
    const id = req.headers['webhook-id'];
    req.resume();
    req.on('end', () => {
      total++;
      if (typeof id === 'string') {
        const seen = received.get(id);
        if (seen) seen.count++;
        else received.set(id, { count: 1, firstAt: Date.now() });
      }
      res.statusCode = 200;
      res.end('ok');
    });
  });
  server.keepAliveTimeout = 60_000;
  resources.sink = server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, received, total: () => total };
}

// ---------------------------------------------------------------------------------------------------------------
// Phases.

type BaselineKind = 'pgbench' | 'node';
const BASELINE_LABEL: Record<BaselineKind, string> = { pgbench: 'baseline (pgbench)', node: 'baseline (Node pg client)' };

interface BaselineSummary {
  kind: BaselineKind;
  insertsPerSec: number;
  inserted: number;
  durationSec: number;
  latencyMs: Percentiles;
  errors: number;
  rows: number;
  rssPeakMb?: number;
  cpu?: Record<string, number>;
  cpuUsPerInsert?: Record<string, number>;
  /** pgbench only: its own summary, the command line (payload elided) and the CPU window (s). */
  pgbench?: PgbenchOutput & { command: string; cpuWindowSec?: number; insertsInCpuWindow?: number; logNotCompleted: number };
}

/** Rows whose external id starts with `prefix` (not LIKE: `_` is a wildcard there, and `b_` would match `bw_`). */
async function countRows(url: string, prefix: string): Promise<number> {
  const counter = new pg.Client({ connectionString: url });
  await counter.connect();
  try {
    return (await counter.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_events WHERE starts_with(external_id, $1)`, [prefix])).rows[0]!.n;
  } finally {
    await counter.end();
  }
}

/** Which settings the roles ran with, for the report. */
function settingsNote(options: BenchOptions): string {
  if (options.codeDefaults) return "the code's defaults (--code-defaults: WORKER_CONCURRENCY=32, DATABASE_POOL_SIZE=20)";
  const chartWorker = readChartRoleEnv(root).worker;
  return `the chart's settings (WORKER_CONCURRENCY=${chartWorker.WORKER_CONCURRENCY}, DATABASE_POOL_SIZE=${chartWorker.DATABASE_POOL_SIZE})`;
}

/** A baseline's CPU µs per insert: its client process (`clientKey` in `cpu`), its PostgreSQL backends, the rest of the server. */
function cpuPerInsert(cpu: Record<string, number> | undefined, clientKey: string, perInsert: (cores: number | undefined) => number | undefined): Record<string, number> | undefined {
  if (!cpu) return undefined;
  const values = { client: perInsert(cpu[clientKey]), pgBackends: perInsert(cpu.pgBackends), postgres: perInsert(cpu.postgres) };
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Record<string, number>;
}

async function runNodeBaseline(options: BenchOptions, runId: string): Promise<BaselineSummary> {
  const url = await createBenchDatabase(options, `webhooks_bench_${runId}_baseline`);
  const child = new LoadChild<PgLoadRun, PgLoadResult>('pg-load.ts');
  const rss = new RssSampler();
  rss.track('baseline', child.child.pid);
  rss.start();
  const params = { type: 'run' as const, databaseUrl: url, connections: options.connections, payloadBytes: options.payloadBytes, idPrefix: `evt_${runId}` };
  try {
    if (options.warmupSec > 0) {
      log(`baseline (Node pg client): warm-up ${options.warmupSec}s`);
      await child.run({ ...params, label: 'bw', durationSec: options.warmupSec });
    }
    log(`baseline (Node pg client): ${options.connections} clients, single-row INSERT per request, ${options.durationSec}s`);
    const backendPids = await withAdminClient(options, async (client) =>
      (await client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1`, [`webhooks_bench_${runId}_baseline`])).rows.map((row) => row.pid),
    );
    const before = cpuSnapshot();
    const result = await child.run({ ...params, label: 'b', durationSec: options.durationSec });
    const after = cpuSnapshot();
    rss.sample(true);
    const rows = await countRows(url, `evt_${runId}_b_`);
    if (result.sampleErrors.length > 0) log(`baseline errors: ${result.sampleErrors.join(' | ')}`);
    const cpu = before && after ? cpuUsage(before, after, { baseline: child.child.pid, bench: process.pid, pgBackends: backendPids }) : undefined;
    const perInsert = (cores: number | undefined) => (cores !== undefined && result.inserted > 0 ? Math.round((cores * result.durationSec * 1e6) / result.inserted) : undefined);
    const cpuUsPerInsert = cpuPerInsert(cpu, 'baseline', perInsert);
    return {
      kind: 'node',
      insertsPerSec: round(result.inserted / result.durationSec),
      inserted: result.inserted,
      durationSec: round(result.durationSec, 2),
      latencyMs: result.latencyMs,
      errors: result.errors + result.conflicts,
      rows,
      rssPeakMb: rss.peaks.baseline ? round(rss.peaks.baseline) : undefined,
      cpu,
      cpuUsPerInsert,
    };
  } finally {
    rss.stop();
    await child.close();
  }
}

/**
 * pgbench against a fresh database of its own (migrated as the Node baseline's): a warm-up run, then the measured
 * run with a per-transaction log (exact p50/p95/p99). CPU per insert is measured over a window inside the run (from
 * when all its connections are up to a second before its end, while its backends still exist: their CPU time is
 * gone from /proc once they exit), divided by the transactions the log shows completed in that window.
 */
async function runPgbenchBaseline(options: BenchOptions, runId: string, pgbench: string): Promise<BaselineSummary> {
  const database = `webhooks_bench_${runId}_pgbench`;
  const url = await createBenchDatabase(options, database);
  const dir = mkdtempSync(path.join(tmpdir(), 'webhooks-bench-pgbench-'));
  resources.tmpDirs.push(dir);
  const idPrefix = `evt_${runId}`;
  const payload = pgbenchPayload(options.payloadBytes, idPrefix);
  const threads = 2;
  const durationSec = Math.max(1, Math.round(options.durationSec));

  const start = (label: string, seconds: number, logPrefix?: string) => {
    const scriptPath = path.join(dir, `${label}.sql`);
    writeFileSync(scriptPath, pgbenchScript(idPrefix, label), 'utf8');
    const args = pgbenchArgs({ connections: options.connections, threads, durationSec: seconds, scriptPath, payload, databaseUrl: url, logPrefix });
    const child = spawn(pgbench, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    resources.processes.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const finished = once(child, 'exit').then(([code]) => {
      if (code !== 0) throw new Error(`pgbench exited with ${code}:\n${(stdout + stderr).slice(-2000)}`);
      return parsePgbenchOutput(stdout);
    });
    finished.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
    const command = [path.basename(pgbench), ...args.slice(0, -1).map((arg) => (arg.startsWith('payload=') ? `payload=<${Buffer.byteLength(payload)} B JSON>` : arg.startsWith('headers=') ? 'headers=<JSON>' : arg)), '<database>']
      .map((arg) => (arg.startsWith('/') ? path.basename(arg) : arg))
      .join(' ');
    return { child, finished, command, exited: () => child.exitCode !== null || child.signalCode !== null };
  };

  if (options.warmupSec > 0) {
    log(`baseline (pgbench): warm-up ${Math.max(1, Math.round(options.warmupSec))}s`);
    await start('pw', options.warmupSec).finished;
  }
  log(`baseline (pgbench): ${options.connections} clients, ${threads} threads, -M prepared, single-row INSERT per transaction, ${durationSec}s`);
  const run = start('p', durationSec, path.join(dir, 'tx'));
  // Its backends, once all are connected (pgbench starts its clock after connecting).
  const backendPids = await withAdminClient(options, async (client) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const pids = (await client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1`, [database])).rows.map((row) => row.pid);
      if (pids.length >= options.connections || run.exited() || Date.now() > deadline) return pids;
      await delay(20);
    }
  });
  const before = cpuSnapshot();
  const windowSec = durationSec >= 3 ? durationSec - 1 : durationSec / 2;
  await Promise.race([delay(windowSec * 1000), run.finished.catch(() => undefined)]);
  const after = run.exited() ? undefined : cpuSnapshot();
  const output = await run.finished;
  if (!after) log('baseline (pgbench): it ended before the CPU window closed; no CPU figures');

  const transactionLog = parseTransactionLog(readTransactionLogFiles(dir, 'tx'));
  const rows = await countRows(url, `${idPrefix}_p_`);
  if (rows !== output.transactions) log(`baseline (pgbench): ${rows} rows for ${output.transactions} transactions reported`);
  const cpu = before && after ? cpuUsage(before, after, { pgbench: run.child.pid, bench: process.pid, pgBackends: backendPids }) : undefined;
  const windowActualSec = before && after ? (after.at - before.at) / 1000 : undefined;
  const insertsInWindow = before && after ? countCompletedBetween(transactionLog, before.at, after.at) : undefined;
  const perInsert = (cores: number | undefined) =>
    cores !== undefined && windowActualSec && insertsInWindow ? Math.round((cores * windowActualSec * 1e6) / insertsInWindow) : undefined;
  const cpuUsPerInsert = cpuPerInsert(cpu, 'pgbench', perInsert);
  return {
    kind: 'pgbench',
    insertsPerSec: round(output.tps),
    inserted: output.transactions,
    durationSec,
    latencyMs: percentiles(transactionLog.latenciesMs),
    errors: output.failed + transactionLog.notCompleted,
    rows,
    cpu,
    cpuUsPerInsert,
    pgbench: {
      ...output,
      command: run.command,
      cpuWindowSec: windowActualSec !== undefined ? round(windowActualSec, 2) : undefined,
      insertsInCpuWindow: insertsInWindow,
      logNotCompleted: transactionLog.notCompleted,
    },
  };
}

/** --pause-worker: the worker resumed after the load, working through the backlog alone (the poll's CPU included). */
interface WorkerDrain {
  deliveries: number;
  seconds: number;
  deliveriesPerSec: number;
  cpuUsPerDelivery: { worker?: number; pgBackends?: number; redis?: number };
}

interface ServiceSummary {
  workerDrain?: WorkerDrain;
  warmup?: HttpLoadResult;
  main: HttpLoadResult;
  acceptedPerSec: number;
  errors: number;
  non2xx: number;
  drainSec: number;
  endToEndPerSec: number;
  deliveredDuringLoadPerSec: number;
  lagMs: Percentiles;
  completeLagMs: Percentiles;
  rssPeakMb: Record<string, number>;
  /** Heap and external memory right after the load, from each process's /metrics. */
  memoryAfterLoadMb: Record<string, Record<string, number> | undefined>;
  cpu?: Record<string, number>;
  /** PostgreSQL transactions committed in the service's database during the load, per request (group commit at work). */
  commitsPerRequest: number;
  /** CPU time per event during the measured load, in µs: the noise-resistant number to compare changes by. */
  cpuUsPerEvent?: Record<string, number>;
  /**
   * Per event, of each process's main thread during the measured load: wake-ups (voluntary context switches),
   * preemptions, and µs spent runnable waiting for a core (which the CPU figures do not count, but a profile's
   * samples do: V8's profiler samples wall time, so a thread waiting for a core shows as the frame it was in).
   */
  schedulingPerEvent?: Record<string, ReturnType<typeof schedulingPerEvent>>;
  check: CheckSummary;
  exitCodes: Record<string, number | null>;
  logs: Record<string, { warnings: number; errors: number }>;
}

interface CheckSummary {
  ok: boolean;
  rows: number;
  accepted: number;
  /** Rows from requests cut off when the load stopped (sent, never answered, committed anyway). */
  rowsWithoutAnswer: number;
  unanswered: number;
  lostAccepted: number;
  unexpectedRows: number;
  duplicateAnswers: number;
  notCompleted: number;
  deliveredOnce: number;
  deliveredTwiceOrMore: number;
  notDelivered: number;
  unknownDeliveries: number;
  deliveryAttemptRows: number;
  problems: string[];
}

interface EventRow {
  id: string;
  external_id: string;
  status: string;
  received_ms: number;
  updated_ms: number;
}

/** One ingress + worker pair as deployed, with its database, sink, load generator and observers. */
interface ServiceStack {
  ingress: ServiceChild;
  worker: ServiceChild;
  loader: LoadChild<HttpLoadRun, HttpLoadResult>;
  sink: Awaited<ReturnType<typeof startSink>>;
  rss: RssSampler;
  db: pg.Pool;
  params: Omit<HttpLoadRun, 'label' | 'durationSec'>;
  /** Until the sink got `expectedDelivered` events and no event is open any more. */
  waitForDrain(expectedDelivered: number, timeoutSec: number): Promise<boolean>;
  /** The service's own PostgreSQL backends now (its pools' connections, apart from the rest of the server). */
  backendPids(): Promise<number[]>;
  /** Transactions committed in the service's database so far. */
  commits(): Promise<number>;
}

async function startServiceStack(options: BenchOptions, runId: string): Promise<ServiceStack> {
  const url = await createBenchDatabase(options, `webhooks_bench_${runId}_service`);
  const queuePrefix = `bench-${runId}`;
  resources.queuePrefix = queuePrefix;
  const tmp = mkdtempSync(path.join(tmpdir(), 'webhooks-bench-'));
  resources.tmpDirs.push(tmp);
  const sink = await startSink();
  const routesFile = path.join(tmp, 'routes.yaml');
  writeFileSync(
    routesFile,
    `destinations:\n  sink:\n    url: ${sink.url}\n    timeoutMs: 10000\nroutes:\n  - provider: stripe\n    to: [sink]\n`,
    'utf8',
  );
  const baseEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmp,
    NODE_ENV: 'production',
    OTEL_SDK_DISABLED: 'true',
    LOG_LEVEL: 'warn',
    DATABASE_URL: url,
    REDIS_URL: options.redisUrl,
    QUEUE_PREFIX: queuePrefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ROUTES_FILE: routesFile,
    POD_DELETION_COST_ENABLED: 'false',
    ...options.serviceEnv,
  };
  if (options.cpuProfDir) mkdirSync(path.resolve(root, options.cpuProfDir), { recursive: true });
  const profDir = options.cpuProfDir ? path.resolve(root, options.cpuProfDir) : undefined;
  // As deployed: the chart's default settings per role, then what the bench itself needs, then the CLI's overrides.
  const chartEnv = options.codeDefaults ? { ingress: {}, worker: {} } : readChartRoleEnv(root);
  const ingress = new ServiceChild('ingress', await freePort(), { ...chartEnv.ingress, ...baseEnv, ...options.ingressEnv }, profDir);
  const worker = new ServiceChild('worker', await freePort(), { ...chartEnv.worker, ...baseEnv, ...options.workerEnv }, profDir);
  if (options.workerNice !== 0 && worker.pid !== undefined) setPriority(worker.pid, options.workerNice);
  await Promise.all([ingress.waitReady(), worker.waitReady()]);
  log(`service: ingress pid ${ingress.pid} :${ingress.port}, worker pid ${worker.pid} :${worker.port}, queue prefix ${queuePrefix}`);

  const loader = new LoadChild<HttpLoadRun, HttpLoadResult>('http-load.ts');
  const rss = new RssSampler();
  rss.track('ingress', ingress.pid);
  rss.track('worker', worker.pid);
  rss.track('loadgen', loader.child.pid);
  rss.track('bench', process.pid);
  rss.start();

  const db = new pg.Pool({ connectionString: url, max: 2, application_name: 'bench-observer' });
  const openEvents = async () =>
    (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_events WHERE status IN ('PENDING', 'PROCESSING', 'FAILED', 'DEAD_LETTER')`)).rows[0]!.n;
  return {
    ingress,
    worker,
    loader,
    sink,
    rss,
    db,
    params: { type: 'run', url: `http://127.0.0.1:${ingress.port}`, connections: options.connections, payloadBytes: options.payloadBytes, secret: STRIPE_SECRET, idPrefix: `evt_${runId}` },
    async waitForDrain(expectedDelivered, timeoutSec) {
      const deadline = Date.now() + timeoutSec * 1000;
      while (Date.now() < deadline) {
        if (sink.received.size >= expectedDelivered && (await openEvents()) === 0) return true;
        await delay(200);
      }
      return false;
    },
    async backendPids() {
      return (await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)).rows.map((row) => row.pid);
    },
    async commits() {
      return Number((await db.query<{ n: string }>(`SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()`)).rows[0]!.n);
    },
  };
}

/** The unmeasured warm-up load, drained, then ANALYZE (as a service that has run a while would have statistics). */
async function warmUpService(stack: ServiceStack, options: BenchOptions): Promise<HttpLoadResult | undefined> {
  if (options.warmupSec <= 0) return undefined;
  log(`service: warm-up ${options.warmupSec}s`);
  const warmup = await stack.loader.run({ ...stack.params, label: 'w', durationSec: options.warmupSec });
  if (!(await stack.waitForDrain(warmup.acceptedIds.length, options.drainTimeoutSec))) log('service: warm-up events did not all complete');
  await stack.db.query('ANALYZE webhook_events');
  return warmup;
}

/**
 * After the last load: waits until every accepted event is COMPLETED, stops the ingress (it drains its inserts on
 * SIGTERM: after this no row can appear any more), waits again, stops the worker, and checks every row against
 * what the loads were answered.
 */
async function finishService(stack: ServiceStack, options: BenchOptions, loads: HttpLoadResult[]) {
  const expected = loads.reduce((sum, load) => sum + load.acceptedIds.length, 0);
  let drained = await stack.waitForDrain(expected, options.drainTimeoutSec);
  stack.rss.sample(true);
  const ingressExit = await stack.ingress.stop();
  if (drained) drained = await stack.waitForDrain(expected, 30);
  if (!drained) log('service: not every event completed within the drain timeout');
  stack.rss.sample(true);
  const workerExit = await stack.worker.stop();
  stack.rss.stop();

  const { rows } = await stack.db.query<EventRow>(
    `SELECT id, external_id, status, extract(epoch FROM received_at) * 1000 AS received_ms, extract(epoch FROM updated_at) * 1000 AS updated_ms
       FROM webhook_events`,
  );
  const attempts = (
    await stack.db.query<{ n: number; events: number; failed: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS events, count(*) FILTER (WHERE NOT succeeded)::int AS failed FROM delivery_attempts`,
    )
  ).rows[0]!;
  await stack.db.end();
  const check = checkRun(loads, rows, stack.sink.received, attempts);
  if (!drained) check.problems.unshift('drain timeout');
  return { check, rows, exitCodes: { ingress: ingressExit, worker: workerExit } };
}

async function closeServiceStack(stack: ServiceStack, options: BenchOptions): Promise<void> {
  stack.rss.stop();
  await stack.loader.close();
  const { worker, ingress } = stack;
  if (options.pauseWorker && worker.pid !== undefined && worker.child.exitCode === null && worker.child.signalCode === null) process.kill(worker.pid, 'SIGCONT'); // a run that broke mid-load
  await Promise.all([ingress.stop(5000), worker.stop(5000)]);
  await stack.db.end().catch(() => undefined);
}

/** The scheduling counters (see {@link threadScheduling}) of the ingress, the worker, the service's backends and Redis. */
function schedulingOfStack(stack: ServiceStack, backendPids: number[], snapshot: CpuSnapshot | undefined): Record<string, ThreadScheduling | undefined> {
  const redisPids = [...(snapshot?.processes ?? new Map<number, { comm: string }>())].filter(([, p]) => p.comm === 'redis-server').map(([pid]) => pid);
  return {
    ingress: stack.ingress.pid === undefined ? undefined : threadScheduling([stack.ingress.pid]),
    worker: stack.worker.pid === undefined ? undefined : threadScheduling([stack.worker.pid]),
    pgBackends: threadScheduling(backendPids),
    redis: threadScheduling(redisPids),
  };
}

/** CPU µs per event of each process group: the worker's per delivery, the others' per answered request. */
function cpuPerEvent(cpu: Record<string, number> | undefined, durationSec: number, responses: number, deliveries: number): Record<string, number> | undefined {
  if (!cpu) return undefined;
  const perEvent = (cores: number | undefined, events: number) => (cores !== undefined && events > 0 ? Math.round((cores * durationSec * 1e6) / events) : undefined);
  return Object.fromEntries(
    Object.entries({
      ingress: perEvent(cpu.ingress, responses),
      worker: perEvent(cpu.worker, deliveries),
      pgBackends: perEvent(cpu.pgBackends, responses),
      postgres: perEvent(cpu.postgres, responses),
      redis: perEvent(cpu['redis-server'], responses),
      loadgen: perEvent(cpu.loadgen, responses),
    }).filter(([, value]) => value !== undefined),
  ) as Record<string, number>;
}

const non2xxOf = (load: HttpLoadResult) => Object.entries(load.statusCounts).reduce((sum, [status, count]) => (Number(status) >= 300 ? sum + count : sum), 0);

async function runService(options: BenchOptions, runId: string): Promise<ServiceSummary> {
  const stack = await startServiceStack(options, runId);
  const { ingress, worker, loader, sink, rss, db, params } = stack;
  try {
    const warmup = await warmUpService(stack, options);

    log(`service: ${options.connections} connections, signed Stripe webhooks of ${options.payloadBytes} B, ${options.durationSec}s`);
    const deliveredBefore = sink.received.size;
    // The service's own PostgreSQL backends (its pools' connections live through the run), apart from the rest of
    // the server, which other databases on a shared machine may keep busy.
    const backendPids = await stack.backendPids();
    const commitsBefore = await stack.commits();
    const cpuBefore = cpuSnapshot();
    const schedulingOf = () => schedulingOfStack(stack, backendPids, cpuBefore);
    const schedulingBefore = schedulingOf();
    // --pause-worker: the ingest path alone, as when workers run on other nodes; the worker resumes for the drain.
    if (options.pauseWorker && worker.pid !== undefined) process.kill(worker.pid, 'SIGSTOP');
    const main = await loader.run({ ...params, label: 'm', durationSec: options.durationSec });
    const cpuAfter: CpuSnapshot | undefined = cpuSnapshot();
    const schedulingAfter = schedulingOf();
    const deliveredDuringLoad = sink.received.size - deliveredBefore;
    // The worker alone: resumed after a paused load, it works through the backlog with nothing else on the cores
    // (no requests, no load generator): its CPU per delivery without contention.
    let workerDrain: WorkerDrain | undefined;
    if (options.pauseWorker && worker.pid !== undefined) {
      const [drainCpuBefore, deliveredAtResume, resumedAt] = [cpuSnapshot(), sink.received.size, Date.now()];
      process.kill(worker.pid, 'SIGCONT');
      const expected = (warmup?.acceptedIds.length ?? 0) + main.acceptedIds.length;
      if (await stack.waitForDrain(expected, options.drainTimeoutSec)) {
        const drainCpuAfter = cpuSnapshot();
        const seconds = (Date.now() - resumedAt) / 1000;
        const deliveries = sink.received.size - deliveredAtResume;
        const cores = drainCpuBefore && drainCpuAfter ? cpuUsage(drainCpuBefore, drainCpuAfter, { worker: worker.pid, pgBackends: backendPids }) : undefined;
        const perDelivery = (name: string) => (cores?.[name] !== undefined && deliveries > 0 ? Math.round((cores[name]! * seconds * 1e6) / deliveries) : undefined);
        workerDrain = {
          deliveries,
          seconds: round(seconds, 2),
          deliveriesPerSec: round(deliveries / seconds),
          cpuUsPerDelivery: { worker: perDelivery('worker'), pgBackends: perDelivery('pgBackends'), redis: perDelivery('redis-server') },
        };
      }
    }
    await delay(600); // PostgreSQL publishes backends' counters at most every 500 ms
    const commitsDuringLoad = (await stack.commits()) - commitsBefore;
    rss.sample(true);
    const memoryAfterLoadMb = { ingress: await ingress.memory(), worker: await worker.memory() };
    log(`service: load done (${main.statusCounts['202'] ?? 0} accepted); waiting for every event to be COMPLETED`);

    const { check, rows, exitCodes } = await finishService(stack, options, [warmup, main].filter((r): r is HttpLoadResult => r !== undefined));

    // End to end, for the measured phase: from its first send until its last event was COMPLETED.
    const mainRows = rows.filter((row) => row.external_id.includes('_m_'));
    const lastCompleted = mainRows.reduce((max, row) => Math.max(max, Number(row.updated_ms)), main.startedAt);
    const lag: number[] = [];
    const completeLag: number[] = [];
    for (const row of mainRows) {
      const delivered = sink.received.get(row.id);
      if (delivered) lag.push(delivered.firstAt - Number(row.received_ms));
      completeLag.push(Number(row.updated_ms) - Number(row.received_ms));
    }
    const accepted = main.statusCounts['202'] ?? 0;
    const cpu = cpuBefore && cpuAfter
      ? cpuUsage(cpuBefore, cpuAfter, { ingress: ingress.pid, worker: worker.pid, loadgen: loader.child.pid, bench: process.pid, pgBackends: backendPids })
      : undefined;
    const non2xx = non2xxOf(main);
    if (main.sampleErrors.length > 0) log(`service: non-2xx answers, e.g. ${main.sampleErrors.join(' | ')}`);
    return {
      workerDrain,
      warmup,
      main,
      acceptedPerSec: round(accepted / main.durationSec),
      errors: main.autocannon.errors + non2xx,
      non2xx,
      drainSec: round((lastCompleted - main.endedAt) / 1000, 2),
      endToEndPerSec: round(mainRows.length / ((lastCompleted - main.startedAt) / 1000)),
      deliveredDuringLoadPerSec: round(deliveredDuringLoad / main.durationSec),
      lagMs: percentiles(lag),
      completeLagMs: percentiles(completeLag),
      rssPeakMb: Object.fromEntries(Object.entries(rss.peaks).map(([name, mb]) => [name, round(mb)])),
      memoryAfterLoadMb,
      commitsPerRequest: round(commitsDuringLoad / Math.max(1, main.responses), 3),
      cpu,
      cpuUsPerEvent: cpuPerEvent(cpu, main.durationSec, main.responses, deliveredDuringLoad),
      schedulingPerEvent: Object.fromEntries(
        Object.keys(schedulingBefore)
          .map((name) => [name, schedulingPerEvent(schedulingBefore[name], schedulingAfter[name], name === 'worker' ? deliveredDuringLoad : main.responses)] as const)
          .filter(([, value]) => value !== undefined),
      ),
      check,
      exitCodes,
      logs: { ingress: { warnings: ingress.warnings, errors: ingress.errors }, worker: { warnings: worker.warnings, errors: worker.errors } },
    };
  } catch (error) {
    for (const service of [ingress, worker]) log(`${service.role} log tail:\n${service.tail.join('\n')}`);
    throw error;
  } finally {
    await closeServiceStack(stack, options);
  }
}

interface SweepStepResult {
  /** `10%` … or `max`. */
  step: string;
  /** Fraction of the reference (baseline) rate; null for the unlimited step. */
  fraction: number | null;
  /** Requests per second asked of the load generator; null = as fast as answers come. */
  offeredPerSec: number | null;
  durationSec: number;
  sentPerSec: number;
  acceptedPerSec: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Socket errors + non-2xx answers. */
  errors: number;
  non2xx: number;
  timeouts: number;
  unansweredAtStop: number;
  deliveredPerSec: number;
  /** From the end of the step until every event so far was COMPLETED (the next step starts after). */
  drainSec: number;
  cpuCores?: Record<string, number>;
  cpuUsPerEvent?: Record<string, number>;
}

interface SweepSummary {
  reference: { kind: BaselineKind; perSec: number };
  stepSec: number;
  aligned: boolean;
  steps: SweepStepResult[];
  check: CheckSummary;
  exitCodes: Record<string, number | null>;
  rssPeakMb: Record<string, number>;
  logs: Record<string, { warnings: number; errors: number }>;
}

const stepName = (step: SweepStep) => (step === 'max' ? 'max' : `${round(step * 100, 1)}%`);

/**
 * `--sweep`: one ingress + worker pair, loaded step after step at offered rates of `fraction × reference rate`
 * (autocannon's overallRate over the same connections), each step followed by the drain of everything accepted so
 * far, so each starts with an empty backlog; the check at the end covers every step.
 */
async function runSweep(options: BenchOptions, runId: string, reference: { kind: BaselineKind; perSec: number }): Promise<SweepSummary> {
  const stack = await startServiceStack(options, runId);
  const { ingress, worker, loader, sink, rss, params } = stack;
  try {
    const warmup = await warmUpService(stack, options);
    const loads = warmup ? [warmup] : [];
    const steps: SweepStepResult[] = [];
    for (const [index, step] of options.sweepSteps.entries()) {
      const offered = step === 'max' ? undefined : Math.max(1, Math.round(step * reference.perSec));
      log(`sweep ${index + 1}/${options.sweepSteps.length}: ${stepName(step)} → ${offered ? `${offered} requests/s offered` : 'no rate limit'}, ${options.sweepDurationSec}s`);
      const backendPids = await stack.backendPids();
      const deliveredBefore = sink.received.size;
      const cpuBefore = cpuSnapshot();
      if (options.pauseWorker && worker.pid !== undefined) process.kill(worker.pid, 'SIGSTOP');
      const load = await loader.run({ ...params, label: `s${index}`, durationSec: options.sweepDurationSec, overallRate: offered, aligned: options.sweepAligned });
      const cpuAfter = cpuSnapshot();
      if (options.pauseWorker && worker.pid !== undefined) process.kill(worker.pid, 'SIGCONT');
      const delivered = sink.received.size - deliveredBefore;
      loads.push(load);
      const expected = loads.reduce((sum, l) => sum + l.acceptedIds.length, 0);
      if (!(await stack.waitForDrain(expected, options.drainTimeoutSec))) log(`sweep: step ${stepName(step)}: not every event completed within the drain timeout`);
      const drainSec = round((Date.now() - load.endedAt) / 1000, 1);
      const cpu = cpuBefore && cpuAfter
        ? cpuUsage(cpuBefore, cpuAfter, { ingress: ingress.pid, worker: worker.pid, loadgen: loader.child.pid, bench: process.pid, pgBackends: backendPids })
        : undefined;
      const non2xx = non2xxOf(load);
      if (load.sampleErrors.length > 0) log(`sweep: non-2xx answers, e.g. ${load.sampleErrors.join(' | ')}`);
      const result: SweepStepResult = {
        step: stepName(step),
        fraction: step === 'max' ? null : step,
        offeredPerSec: offered ?? null,
        durationSec: round(load.durationSec, 2),
        sentPerSec: round(load.sent / load.durationSec),
        acceptedPerSec: round((load.statusCounts['202'] ?? 0) / load.durationSec),
        p50Ms: load.latencyMs.p50,
        p95Ms: load.latencyMs.p95,
        p99Ms: load.latencyMs.p99,
        maxMs: load.latencyMs.max,
        errors: load.autocannon.errors + non2xx,
        non2xx,
        timeouts: load.autocannon.timeouts,
        unansweredAtStop: load.unansweredExternalIds.length,
        deliveredPerSec: round(delivered / load.durationSec),
        drainSec,
        cpuCores: cpu,
        cpuUsPerEvent: cpuPerEvent(cpu, load.durationSec, load.responses, delivered),
      };
      steps.push(result);
      log(`sweep: ${result.step}: ${result.acceptedPerSec} accepted/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, errors ${result.errors}, drained in ${drainSec}s`);
    }
    const { check, exitCodes } = await finishService(stack, options, loads);
    return {
      reference,
      stepSec: options.sweepDurationSec,
      aligned: options.sweepAligned,
      steps,
      check,
      exitCodes,
      rssPeakMb: Object.fromEntries(Object.entries(rss.peaks).map(([name, mb]) => [name, round(mb)])),
      logs: { ingress: { warnings: ingress.warnings, errors: ingress.errors }, worker: { warnings: worker.warnings, errors: worker.errors } },
    };
  } catch (error) {
    for (const service of [ingress, worker]) log(`${service.role} log tail:\n${service.tail.join('\n')}`);
    throw error;
  } finally {
    await closeServiceStack(stack, options);
  }
}

function checkRun(
  loads: HttpLoadResult[],
  rows: EventRow[],
  received: Map<string, { count: number; firstAt: number }>,
  attempts: { n: number; events: number; failed: number },
): CheckSummary {
  const accepted = new Set<string>();
  const unanswered = new Set<string>();
  let duplicateAnswers = 0;
  for (const load of loads) {
    for (const id of load.acceptedIds) accepted.add(id);
    for (const externalId of load.unansweredExternalIds) unanswered.add(externalId);
    duplicateAnswers += load.statusCounts['200'] ?? 0;
  }
  const rowIds = new Set(rows.map((row) => row.id));
  let lostAccepted = 0;
  for (const id of accepted) if (!rowIds.has(id)) lostAccepted++;
  let rowsWithoutAnswer = 0;
  let unexpectedRows = 0;
  let notCompleted = 0;
  let deliveredOnce = 0;
  let deliveredTwiceOrMore = 0;
  let notDelivered = 0;
  for (const row of rows) {
    if (!accepted.has(row.id)) {
      if (unanswered.has(row.external_id)) rowsWithoutAnswer++;
      else unexpectedRows++;
    }
    if (row.status !== 'COMPLETED') notCompleted++;
    const count = received.get(row.id)?.count ?? 0;
    if (count === 1) deliveredOnce++;
    else if (count > 1) deliveredTwiceOrMore++;
    else notDelivered++;
  }
  let unknownDeliveries = 0;
  for (const id of received.keys()) if (!rowIds.has(id)) unknownDeliveries++;

  const problems: string[] = [];
  if (lostAccepted > 0) problems.push(`${lostAccepted} accepted events have no row (lost)`);
  if (rows.length !== accepted.size + rowsWithoutAnswer) problems.push(`rows ${rows.length} != accepted ${accepted.size} + cut-off ${rowsWithoutAnswer}`);
  if (unexpectedRows > 0) problems.push(`${unexpectedRows} rows for requests that were answered with an error`);
  if (duplicateAnswers > 0) problems.push(`${duplicateAnswers} unique events answered as duplicates`);
  if (notCompleted > 0) problems.push(`${notCompleted} events not COMPLETED`);
  if (deliveredTwiceOrMore > 0) problems.push(`${deliveredTwiceOrMore} events delivered more than once`);
  if (notDelivered > 0) problems.push(`${notDelivered} events never delivered`);
  if (unknownDeliveries > 0) problems.push(`${unknownDeliveries} deliveries of unknown event ids`);
  if (attempts.n !== rows.length || attempts.events !== rows.length || attempts.failed > 0) {
    problems.push(`delivery_attempts: ${attempts.n} rows for ${attempts.events} events (${attempts.failed} failed), expected one success per event`);
  }
  return {
    ok: problems.length === 0,
    rows: rows.length,
    accepted: accepted.size,
    rowsWithoutAnswer,
    unanswered: unanswered.size,
    lostAccepted,
    unexpectedRows,
    duplicateAnswers,
    notCompleted,
    deliveredOnce,
    deliveredTwiceOrMore,
    notDelivered,
    unknownDeliveries,
    deliveryAttemptRows: attempts.n,
    problems,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Report.

function table(rows: [string, string, string?][]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  // Long values (cpu, RSS lists) are not padded to, so short numbers stay in a readable column.
  const valueWidth = Math.max(...rows.map(([, value]) => (value.length <= 28 ? value.length : 0)));
  return rows.map(([label, value, note]) => `  ${label.padEnd(width)}  ${value.padStart(valueWidth)}${note ? `  ${note}` : ''}`).join('\n');
}

const yes = (ok: boolean) => (ok ? 'met' : 'NOT met');

const cpuLine = (cpu?: Record<string, number>) =>
  cpu
    ? Object.entries(cpu)
        .filter(([name]) => name !== 'machineCores' && !name.endsWith('SystemShare'))
        .sort(([, a], [, b]) => b - a)
        .map(([name, cores]) => `${name} ${cores}`)
        .join(', ')
    : 'n/a';
const usLine = (us?: Record<string, number>) => (us && Object.keys(us).length > 0 ? Object.entries(us).map(([name, value]) => `${name} ${value}`).join(', ') : 'n/a');
const schedulingLine = (scheduling?: ServiceSummary['schedulingPerEvent']) =>
  scheduling && Object.keys(scheduling).length > 0
    ? Object.entries(scheduling)
        .map(([name, value]) => (value ? `${name} ${value.wakeups} / ${value.preemptions} / ${value.runQueueWaitUs} µs` : `${name} n/a`))
        .join(', ')
    : 'n/a';

function baselineSection(baseline: BaselineSummary, options: BenchOptions): string[] {
  const lines = [''];
  if (baseline.kind === 'pgbench') {
    const p = baseline.pgbench!;
    lines.push(`Baseline (pgbench): PostgreSQL alone, pgbench's own clients (C, libpq, -M prepared), the same single-row INSERT … ON CONFLICT DO NOTHING RETURNING, one commit per transaction`);
    lines.push(
      table([
        ['inserts/s', String(baseline.insertsPerSec), `pgbench tps, ${baseline.inserted} transactions in ${baseline.durationSec}s (${baseline.rows} rows), ${p.failed} failed`],
        ['latency p50 / p95 / p99', `${baseline.latencyMs.p50} / ${baseline.latencyMs.p95} / ${baseline.latencyMs.p99} ms`, `max ${baseline.latencyMs.max} ms, average ${p.latencyAverageMs} ms (pgbench's); from its per-transaction log`],
        ['cpu (cores)', cpuLine(baseline.cpu), p.cpuWindowSec !== undefined ? `over ${p.cpuWindowSec}s inside the run (${p.insertsInCpuWindow} inserts)` : undefined],
        ['cpu µs per insert', usLine(baseline.cpuUsPerInsert), 'client = pgbench'],
        ['command', p.command],
      ]),
    );
  } else {
    lines.push(`Baseline (Node pg client): PostgreSQL alone, ${options.connections} node-postgres connections (pg-load.ts), single-row INSERT … ON CONFLICT DO NOTHING RETURNING, one commit per request`);
    lines.push(
      table([
        ['inserts/s', String(baseline.insertsPerSec), `${baseline.inserted} in ${baseline.durationSec}s (${baseline.rows} rows)`],
        ['latency p50 / p95 / p99', `${baseline.latencyMs.p50} / ${baseline.latencyMs.p95} / ${baseline.latencyMs.p99} ms`],
        ['errors', String(baseline.errors)],
        ['cpu (cores)', cpuLine(baseline.cpu)],
        ['cpu µs per insert', usLine(baseline.cpuUsPerInsert), 'client = the Node process'],
      ]),
    );
  }
  return lines;
}

function baselineJson(baseline: BaselineSummary | undefined) {
  if (!baseline) return null;
  return {
    kind: baseline.kind,
    label: BASELINE_LABEL[baseline.kind],
    insertsPerSec: baseline.insertsPerSec,
    inserted: baseline.inserted,
    rows: baseline.rows,
    durationSec: baseline.durationSec,
    p50Ms: baseline.latencyMs.p50,
    p95Ms: baseline.latencyMs.p95,
    p99Ms: baseline.latencyMs.p99,
    maxMs: baseline.latencyMs.max,
    errors: baseline.errors,
    cpuCores: baseline.cpu,
    cpuUsPerInsert: baseline.cpuUsPerInsert,
    ...(baseline.pgbench
      ? {
          tps: baseline.pgbench.tps,
          latencyAverageMs: baseline.pgbench.latencyAverageMs,
          failed: baseline.pgbench.failed,
          cpuWindowSec: baseline.pgbench.cpuWindowSec,
          command: baseline.pgbench.command,
        }
      : {}),
  };
}

function gitCommit(): string | undefined {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
  if (head.status !== 0) return undefined;
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'services', 'scripts/bench'], { cwd: root, encoding: 'utf8' });
  return `${head.stdout.trim()}${dirty.stdout.trim() ? ' (with local changes)' : ''}`;
}

/** The highest accepted rate among the error-free steps whose p99 is within `ms`. */
function capacityWithin(steps: SweepStepResult[], ms: number): number | null {
  const within = steps.filter((step) => step.errors === 0 && step.p99Ms <= ms).map((step) => step.acceptedPerSec);
  return within.length > 0 ? Math.max(...within) : null;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const runId = randomBytes(4).toString('hex');
  const started = Date.now();
  const machine = { cpus: cpus().length, loadavg1AtStart: round(loadavg()[0] ?? 0, 2), loadavg1AtEnd: 0 };
  log(
    `run ${runId}: ${options.durationSec}s per phase${options.sweep ? ` (sweep: ${options.sweepSteps.length} steps of ${options.sweepDurationSec}s)` : ''}, ` +
      `${options.connections} connections, ${options.payloadBytes} B payloads; load average ${machine.loadavg1AtStart} on ${machine.cpus} cores`,
  );

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void cleanup(options).finally(() => {
        process.stdout.write(`${JSON.stringify({ bench: 'webhook-ingest', runId, error: `interrupted by ${signal}` })}\n`, () => process.exit(130));
      });
    });
  }

  try {
    if (!options.skipBuild) {
      log('building (tsc -p tsconfig.json)');
      const build = spawn(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
      const [code] = (await once(build, 'exit')) as [number | null];
      if (code !== 0) throw new Error(`build failed (tsc exit ${code}); fix it or pass --skip-build to use dist/ as it is`);
    }

    // Baselines: pgbench first (the reference when it runs), then the Node client.
    const notes: string[] = [];
    const wantPgbench = options.baseline === 'pgbench' || options.baseline === 'both';
    const pgbenchPath = wantPgbench ? findPgbench(process.env) : undefined;
    if (wantPgbench && !pgbenchPath) {
      notes.push('pgbench not found (BENCH_PGBENCH, PATH, /usr/lib/postgresql/*/bin): no pgbench baseline, the Node pg client baseline instead');
      log(notes[notes.length - 1]!);
    }
    const runNode = options.baseline === 'node' || options.baseline === 'both' || (wantPgbench && !pgbenchPath);
    const pgbenchBaseline = pgbenchPath ? await runPgbenchBaseline(options, runId, pgbenchPath) : undefined;
    if (pgbenchBaseline) log(`baseline (pgbench): ${pgbenchBaseline.insertsPerSec} inserts/s, p99 ${pgbenchBaseline.latencyMs.p99} ms`);
    const nodeBaseline = runNode ? await runNodeBaseline(options, runId) : undefined;
    if (nodeBaseline) log(`baseline (Node pg client): ${nodeBaseline.insertsPerSec} inserts/s, p99 ${nodeBaseline.latencyMs.p99} ms`);
    const baseline = pgbenchBaseline ?? nodeBaseline; // what `ratio` and the sweep's steps refer to
    const baselines = { pgbench: baselineJson(pgbenchBaseline), node: baselineJson(nodeBaseline) };
    const ratioTo = (accepted: number, b?: BaselineSummary) => (b && b.insertsPerSec > 0 ? round(accepted / b.insertsPerSec, 2) : null);

    const header = (what: string) => {
      const lines = [''];
      lines.push(`Webhook ingest benchmark — ${options.connections} connections, ${options.payloadBytes} B payloads, ${what}, ${machine.cpus} cores (load avg ${machine.loadavg1AtStart} → ${machine.loadavg1AtEnd})`);
      const overrides = [
        ...Object.entries({ ...options.serviceEnv }).map(([key, value]) => `${key}=${value}`),
        ...Object.entries(options.ingressEnv).map(([key, value]) => `ingress ${key}=${value}`),
        ...Object.entries(options.workerEnv).map(([key, value]) => `worker ${key}=${value}`),
        ...(options.workerNice !== 0 ? [`worker nice ${options.workerNice}`] : []),
        ...(options.pauseWorker ? ['worker paused (SIGSTOP) during the measured load'] : []),
      ];
      if (overrides.length > 0) lines.push(`Not as deployed: ${overrides.join(', ')}`);
      for (const note of notes) lines.push(`Note: ${note}`);
      for (const b of [pgbenchBaseline, nodeBaseline]) if (b) lines.push(...baselineSection(b, options));
      return lines;
    };
    const jsonOptions = {
      durationSec: options.durationSec,
      warmupSec: options.warmupSec,
      connections: options.connections,
      payloadBytes: options.payloadBytes,
      baseline: options.baseline,
      workerNice: options.workerNice,
      pauseWorker: options.pauseWorker,
      serviceEnv: options.serviceEnv,
      ingressEnv: options.ingressEnv,
      workerEnv: options.workerEnv,
      ...(options.sweep ? { sweepSteps: options.sweepSteps, sweepDurationSec: options.sweepDurationSec, sweepAligned: options.sweepAligned } : {}),
    };
    const writeSummary = (summary: unknown) =>
      // Written before exiting: process.exit() would drop output still queued for a pipe.
      new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(summary)}\n`, () => resolve()));

    if (options.sweep) {
      if (!baseline) throw new Error('--sweep needs a baseline rate');
      const sweep = await runSweep(options, runId, { kind: baseline.kind, perSec: baseline.insertsPerSec });
      machine.loadavg1AtEnd = round(loadavg()[0] ?? 0, 2);
      const c = sweep.check;
      const capacity = { p99Within10Ms: capacityWithin(sweep.steps, 10), p99Within50Ms: capacityWithin(sweep.steps, 50) };

      const lines = header(`sweep of ${sweep.steps.length} offered rates × ${options.sweepDurationSec}s`);
      lines.push('');
      lines.push(
        `Sweep: ingress + worker (dist/), ${settingsNote(options)}, offered rates as fractions of ${BASELINE_LABEL[sweep.reference.kind]} ${sweep.reference.perSec}/s ` +
          `(autocannon overallRate over ${options.connections} connections, ${sweep.aligned ? 'aligned 1-second windows' : 'windows staggered across the second'})`,
      );
      const head = ['step', 'offered/s', 'sent/s', 'accepted/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors', 'drain s', 'cpu µs/event (ingress, worker, pgBackends, postgres, redis)'];
      const body = sweep.steps.map((s) => [
        s.step,
        s.offeredPerSec === null ? 'max' : String(s.offeredPerSec),
        String(s.sentPerSec),
        String(s.acceptedPerSec),
        String(s.p50Ms),
        String(s.p95Ms),
        String(s.p99Ms),
        String(s.maxMs),
        String(s.errors),
        String(s.drainSec),
        ['ingress', 'worker', 'pgBackends', 'postgres', 'redis'].map((name) => s.cpuUsPerEvent?.[name] ?? '-').join(' / '),
      ]);
      const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
      for (const row of [head, ...body]) lines.push(`  ${row.map((cell, i) => (i === 0 || i === row.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd()}`);
      lines.push(
        `  highest accepted/s with p99 ≤ 10 ms: ${capacity.p99Within10Ms ?? 'none'}; with p99 ≤ 50 ms: ${capacity.p99Within50Ms ?? 'none'} (steps without errors)`,
      );
      lines.push('');
      lines.push(`Check: nothing lost or doubled — ${c.ok ? 'OK' : `FAILED: ${c.problems.join('; ')}`}`);
      lines.push(
        table([
          ['rows', String(c.rows), `= accepted ${c.accepted} + cut-off at stop ${c.rowsWithoutAnswer} (warm-up and every step)`],
          ['COMPLETED', String(c.rows - c.notCompleted)],
          ['delivered exactly once', String(c.deliveredOnce), `twice+ ${c.deliveredTwiceOrMore}, never ${c.notDelivered}, unknown ids ${c.unknownDeliveries}`],
          ['lost / duplicate answers', `${c.lostAccepted} / ${c.duplicateAnswers}`],
        ['service logs', `warn ${sweep.logs.ingress!.warnings + sweep.logs.worker!.warnings}, error ${sweep.logs.ingress!.errors + sweep.logs.worker!.errors}`, `exit codes ${JSON.stringify(sweep.exitCodes)}`],
        ]),
      );

      // The chart and its data.
      const svgPath = path.resolve(process.cwd(), options.chartPath);
      const jsonPath = svgPath.endsWith('.svg') ? `${svgPath.slice(0, -4)}.json` : `${svgPath}.json`;
      const data = {
        bench: 'webhook-ingest-sweep',
        generatedAt: new Date().toISOString(),
        runId,
        commit: gitCommit(),
        machine,
        options: jsonOptions,
        reference: sweep.reference,
        baselines,
        steps: sweep.steps,
        capacity,
        check: { ok: c.ok, rows: c.rows, accepted: c.accepted, cutOffRows: c.rowsWithoutAnswer, lost: c.lostAccepted, problems: c.problems },
      };
      mkdirSync(path.dirname(svgPath), { recursive: true });
      writeFileSync(svgPath, renderLatencyChart(chartInputFromSweepData(data)), 'utf8');
      writeFileSync(jsonPath, `${JSON.stringify(data, null, 2)}\n`, 'utf8');
      lines.push('');
      const shown = (file: string) => (path.relative(process.cwd(), file).startsWith('..') ? file : path.relative(process.cwd(), file));
      lines.push(`Chart: ${shown(svgPath)}, data: ${shown(jsonPath)} (total ${round((Date.now() - started) / 1000)}s)`);
      process.stdout.write(`${lines.join('\n')}\n`);

      await writeSummary({
        bench: 'webhook-ingest',
        mode: 'sweep',
        runId,
        options: jsonOptions,
        machine,
        baseline: baselineJson(baseline),
        baselines,
        sweep: { reference: sweep.reference, stepSec: sweep.stepSec, aligned: sweep.aligned, steps: sweep.steps, capacity, chart: { svg: svgPath, json: jsonPath } },
        check: { ok: c.ok, rows: c.rows, accepted: c.accepted, cutOffRows: c.rowsWithoutAnswer, lost: c.lostAccepted, notCompleted: c.notCompleted, deliveredOnce: c.deliveredOnce, deliveredTwice: c.deliveredTwiceOrMore, notDelivered: c.notDelivered, problems: c.problems },
        rssPeakMb: { ...sweep.rssPeakMb, baseline: nodeBaseline?.rssPeakMb },
      });
      return c.ok ? 0 : 1;
    }

    const service = await runService(options, runId);
    machine.loadavg1AtEnd = round(loadavg()[0] ?? 0, 2);

    const main = service.main;
    const ratios = { pgbench: ratioTo(service.acceptedPerSec, pgbenchBaseline), node: ratioTo(service.acceptedPerSec, nodeBaseline) };
    const ratio = ratios.pgbench ?? ratios.node;
    const rssPeakMb = service.rssPeakMb;
    const targets = {
      throughput: ratio !== null && ratio >= TARGETS.ratio,
      p99: main.latencyMs.p99 <= TARGETS.p99Ms,
      zeroErrors: service.errors === 0,
      endToEnd: service.endToEndPerSec >= TARGETS.endToEndShare * service.acceptedPerSec,
      rss: (rssPeakMb.ingress ?? Infinity) < TARGETS.rssMb && (rssPeakMb.worker ?? Infinity) < TARGETS.rssMb,
      noLossNoDuplicates: service.check.ok,
      all: false,
    };
    targets.all = targets.throughput && targets.p99 && targets.zeroErrors && targets.endToEnd && targets.rss && targets.noLossNoDuplicates;

    const lines = header(`${options.durationSec}s per phase`);
    lines.push('');
    lines.push(`Service: ingress process + worker process (dist/) with ${settingsNote(options)}, signed Stripe webhooks via autocannon`);
    const ratioNote = [
      ratios.pgbench !== null ? `${ratios.pgbench}× ${BASELINE_LABEL.pgbench}` : undefined,
      ratios.node !== null ? `${ratios.node}× ${BASELINE_LABEL.node}` : undefined,
    ].filter((part) => part !== undefined);
    lines.push(
      table([
        [
          'accepted/s (202)',
          String(service.acceptedPerSec),
          `${main.statusCounts['202'] ?? 0} in ${round(main.durationSec, 2)}s; ${ratioNote.length > 0 ? ratioNote.join(', ') : 'no baseline'} ` +
            `(target ≥ ${TARGETS.ratio}× ${baseline ? BASELINE_LABEL[baseline.kind] : 'a baseline'}: ${yes(targets.throughput)})`,
        ],
        ['latency p50 / p95 / p99', `${main.latencyMs.p50} / ${main.latencyMs.p95} / ${main.latencyMs.p99} ms`, `max ${main.latencyMs.max} ms (p99 target ≤ ${TARGETS.p99Ms} ms: ${yes(targets.p99)})`],
        ['errors + non-2xx', String(service.errors), `status counts ${JSON.stringify(main.statusCounts)}, socket errors ${main.autocannon.errors}, timeouts ${main.autocannon.timeouts} (${yes(targets.zeroErrors)})`],
        ['unanswered at stop', String(main.unansweredExternalIds.length), 'requests in flight when the load stopped'],
        ['drain after load', `${service.drainSec} s`, 'until the last event of the phase was COMPLETED'],
        ['end-to-end events/s', String(service.endToEndPerSec), `ingest → delivered → COMPLETED (target ≥ ${TARGETS.endToEndShare}× ingest: ${yes(targets.endToEnd)})`],
        ['delivered/s during load', String(service.deliveredDuringLoadPerSec)],
        ...(service.workerDrain
          ? [
              [
                'worker alone (drain)',
                `${service.workerDrain.deliveriesPerSec}/s`,
                `resumed after the paused load: ${service.workerDrain.deliveries} deliveries in ${service.workerDrain.seconds} s; cpu µs per delivery: ` +
                  Object.entries(service.workerDrain.cpuUsPerDelivery)
                    .filter(([, us]) => us !== undefined)
                    .map(([name, us]) => `${name} ${us}`)
                    .join(', '),
              ] as [string, string, string],
            ]
          : []),
        ['ingest→delivery lag', `${service.lagMs.p50} / ${service.lagMs.p95} / ${service.lagMs.p99} ms`, 'p50 / p95 / p99, sink receive − received_at'],
        ['ingest→COMPLETED lag', `${service.completeLagMs.p50} / ${service.completeLagMs.p95} / ${service.completeLagMs.p99} ms`],
        ['RSS peak (MiB)', Object.entries(rssPeakMb).map(([name, mb]) => `${name} ${mb}`).join(', '), `ingress & worker < ${TARGETS.rssMb}: ${yes(targets.rss)}`],
        [
          'memory after load (MiB)',
          Object.entries(service.memoryAfterLoadMb)
            .map(([name, m]) => (m ? `${name}: rss ${m.rss}, heap ${m.heapUsed}/${m.heapTotal} (new ${m.newSpace}, old ${m.oldSpace}), external ${m.external}` : `${name}: n/a`))
            .join('; '),
        ],
        [
          'kernel share of cpu',
          service.cpu
            ? Object.entries(service.cpu)
                .filter(([name]) => name.endsWith('SystemShare'))
                .map(([name, share]) => `${name.replace('SystemShare', '')} ${Math.round(share * 100)}%`)
                .join(', ')
            : 'n/a',
          'system time (syscalls, loopback TCP) in each process\'s CPU',
        ],
        ['PostgreSQL commits/request', String(service.commitsPerRequest), 'inserts, claims and finishes together (1 = one commit per request; the baseline is 1)'],
        ['cpu (cores)', cpuLine(service.cpu)],
        [
          'cpu µs per event',
          usLine(service.cpuUsPerEvent),
          'worker: per delivery during the load; others: per request; pgBackends: the service\'s own connections, postgres: the rest of the server',
        ],
        [
          'scheduling per event',
          schedulingLine(service.schedulingPerEvent),
          'main threads: wake-ups / preemptions / µs waiting for a core (worker: per delivery; counted by no CPU figure)',
        ],
        ['service logs', `warn ${service.logs.ingress!.warnings + service.logs.worker!.warnings}, error ${service.logs.ingress!.errors + service.logs.worker!.errors}`, `exit codes ${JSON.stringify(service.exitCodes)}`],
      ]),
    );
    const c = service.check;
    lines.push('');
    lines.push(`Check: nothing lost or doubled — ${c.ok ? 'OK' : `FAILED: ${c.problems.join('; ')}`}`);
    lines.push(
      table([
        ['rows', String(c.rows), `= accepted ${c.accepted} + cut-off at stop ${c.rowsWithoutAnswer} (warm-up included)`],
        ['COMPLETED', String(c.rows - c.notCompleted)],
        ['delivered exactly once', String(c.deliveredOnce), `twice+ ${c.deliveredTwiceOrMore}, never ${c.notDelivered}, unknown ids ${c.unknownDeliveries}`],
        ['lost / duplicate answers', `${c.lostAccepted} / ${c.duplicateAnswers}`],
      ]),
    );
    lines.push('');
    lines.push(`Targets: ${targets.all ? 'all met' : `not met: ${Object.entries(targets).filter(([name, ok]) => name !== 'all' && !ok).map(([name]) => name).join(', ')}`} (total ${round((Date.now() - started) / 1000)}s)`);
    process.stdout.write(`${lines.join('\n')}\n`);

    await writeSummary({
      bench: 'webhook-ingest',
      mode: 'single',
      runId,
      options: jsonOptions,
      machine,
      baseline: baselineJson(baseline),
      baselines,
      ingest: {
        acceptedPerSec: service.acceptedPerSec,
        accepted: main.statusCounts['202'] ?? 0,
        p50Ms: main.latencyMs.p50,
        p95Ms: main.latencyMs.p95,
        p99Ms: main.latencyMs.p99,
        maxMs: main.latencyMs.max,
        errors: service.errors,
        non2xx: service.non2xx,
        statusCounts: main.statusCounts,
        unansweredAtStop: main.unansweredExternalIds.length,
      },
      endToEnd: {
        eventsPerSec: service.endToEndPerSec,
        drainSec: service.drainSec,
        deliveredDuringLoadPerSec: service.deliveredDuringLoadPerSec,
        lagMs: { p50: service.lagMs.p50, p95: service.lagMs.p95, p99: service.lagMs.p99 },
        completedLagMs: { p50: service.completeLagMs.p50, p95: service.completeLagMs.p95, p99: service.completeLagMs.p99 },
      },
      commitsPerRequest: service.commitsPerRequest,
      workerDrain: service.workerDrain ?? null,
      check: { ok: c.ok, rows: c.rows, accepted: c.accepted, cutOffRows: c.rowsWithoutAnswer, lost: c.lostAccepted, notCompleted: c.notCompleted, deliveredOnce: c.deliveredOnce, deliveredTwice: c.deliveredTwiceOrMore, notDelivered: c.notDelivered, problems: c.problems },
      rssPeakMb: { ...rssPeakMb, baseline: nodeBaseline?.rssPeakMb },
      memoryAfterLoadMb: service.memoryAfterLoadMb,
      cpuCores: service.cpu,
      cpuUsPerEvent: service.cpuUsPerEvent,
      schedulingPerEvent: service.schedulingPerEvent,
      ratio,
      ratios,
      targets,
    });
    return c.ok ? 0 : 1;
  } finally {
    await cleanup(options);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`failed: ${(error as Error).stack ?? String(error)}`);
    process.stdout.write(`${JSON.stringify({ bench: 'webhook-ingest', error: String((error as Error).message ?? error) })}\n`, () => process.exit(1));
  },
);
