/**
 * `npm run bench`: one command, one machine, one run.
 *
 *  1. baseline — PostgreSQL alone doing what a naive ingress does per request: a single-row
 *     `INSERT … ON CONFLICT DO NOTHING RETURNING` of the same ~2 KB row, from N concurrent clients (child process);
 *  2. service  — the built service as it deploys (an ingress process and a worker process), loaded with signed
 *     Stripe webhooks by autocannon (child process) at the same concurrency; then the time until every accepted
 *     event is COMPLETED, the end-to-end rate and the ingest-to-delivery lag (a local sink records `webhook-id`s);
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
import { parseOptions, type BenchOptions } from './options.js';
import type { PgLoadResult, PgLoadRun } from './pg-load.js';
import { cpuSnapshot, cpuUsage, RssSampler, type CpuSnapshot } from './proc-stats.js';
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
  tmpDir?: string;
  processes: ChildProcess[];
  sink?: Server;
}
const resources: Resources = { databases: [], processes: [] };

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
    if (resources.tmpDir) rmSync(resources.tmpDir, { recursive: true, force: true });
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
    const profiling = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=${role}-${Date.now()}.cpuprofile`] : [];
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
    this.exited = once(this.child, 'exit').then(([code]) => code as number | null);
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

interface BaselineSummary {
  insertsPerSec: number;
  inserted: number;
  durationSec: number;
  latencyMs: Percentiles;
  errors: number;
  rows: number;
  rssPeakMb?: number;
  cpu?: Record<string, number>;
  cpuUsPerInsert?: Record<string, number>;
}

async function runBaseline(options: BenchOptions, runId: string): Promise<BaselineSummary> {
  const url = await createBenchDatabase(options, `webhooks_bench_${runId}_baseline`);
  const child = new LoadChild<PgLoadRun, PgLoadResult>('pg-load.ts');
  const rss = new RssSampler();
  rss.track('baseline', child.child.pid);
  rss.start();
  const params = { type: 'run' as const, databaseUrl: url, connections: options.connections, payloadBytes: options.payloadBytes, idPrefix: `evt_${runId}` };
  try {
    if (options.warmupSec > 0) {
      log(`baseline: warm-up ${options.warmupSec}s`);
      await child.run({ ...params, label: 'bw', durationSec: options.warmupSec });
    }
    log(`baseline: ${options.connections} clients, single-row INSERT per request, ${options.durationSec}s`);
    const backendPids = await withAdminClient(options, async (client) =>
      (await client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1`, [`webhooks_bench_${runId}_baseline`])).rows.map((row) => row.pid),
    );
    const before = cpuSnapshot();
    const result = await child.run({ ...params, label: 'b', durationSec: options.durationSec });
    const after = cpuSnapshot();
    rss.sample(true);
    const counter = new pg.Client({ connectionString: url });
    await counter.connect();
    const rows = await counter
      .query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_events WHERE external_id LIKE $1`, [`evt_${runId}_b_%`])
      .then((result) => result.rows[0]!.n)
      .finally(() => counter.end());
    if (result.sampleErrors.length > 0) log(`baseline errors: ${result.sampleErrors.join(' | ')}`);
    const cpu = before && after ? cpuUsage(before, after, { baseline: child.child.pid, bench: process.pid, pgBackends: backendPids }) : undefined;
    const perInsert = (cores: number | undefined) => (cores !== undefined && result.inserted > 0 ? Math.round((cores * result.durationSec * 1e6) / result.inserted) : undefined);
    const cpuUsPerInsert = cpu
      ? (Object.fromEntries(
          Object.entries({ client: perInsert(cpu.baseline), pgBackends: perInsert(cpu.pgBackends), postgres: perInsert(cpu.postgres) }).filter(([, v]) => v !== undefined),
        ) as Record<string, number>)
      : undefined;
    return {
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

interface ServiceSummary {
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

async function runService(options: BenchOptions, runId: string): Promise<ServiceSummary> {
  const url = await createBenchDatabase(options, `webhooks_bench_${runId}_service`);
  const queuePrefix = `bench-${runId}`;
  resources.queuePrefix = queuePrefix;
  const tmp = (resources.tmpDir = mkdtempSync(path.join(tmpdir(), 'webhooks-bench-')));
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
  const chartEnv = readChartRoleEnv(root);
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
  const waitForDrain = async (expectedDelivered: number, timeoutSec: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutSec * 1000;
    while (Date.now() < deadline) {
      if (sink.received.size >= expectedDelivered && (await openEvents()) === 0) return true;
      await delay(200);
    }
    return false;
  };
  const params = { type: 'run' as const, url: `http://127.0.0.1:${ingress.port}`, connections: options.connections, payloadBytes: options.payloadBytes, secret: STRIPE_SECRET, idPrefix: `evt_${runId}` };

  try {
    let warmup: HttpLoadResult | undefined;
    if (options.warmupSec > 0) {
      log(`service: warm-up ${options.warmupSec}s`);
      warmup = await loader.run({ ...params, label: 'w', durationSec: options.warmupSec });
      if (!(await waitForDrain(warmup.acceptedIds.length, options.drainTimeoutSec))) log('service: warm-up events did not all complete');
      await db.query('ANALYZE webhook_events');
    }

    log(`service: ${options.connections} connections, signed Stripe webhooks of ${options.payloadBytes} B, ${options.durationSec}s`);
    const deliveredBefore = sink.received.size;
    // The service's own PostgreSQL backends (its pools' connections live through the run), apart from the rest of
    // the server, which other databases on a shared machine may keep busy.
    const backendPids = (
      await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
    ).rows.map((row) => row.pid);
    const commits = async () =>
      Number((await db.query<{ n: string }>(`SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()`)).rows[0]!.n);
    const commitsBefore = await commits();
    const cpuBefore = cpuSnapshot();
    // --pause-worker: the ingest path alone, as when workers run on other nodes; the worker resumes for the drain.
    if (options.pauseWorker && worker.pid !== undefined) process.kill(worker.pid, 'SIGSTOP');
    const main = await loader.run({ ...params, label: 'm', durationSec: options.durationSec });
    const cpuAfter: CpuSnapshot | undefined = cpuSnapshot();
    if (options.pauseWorker && worker.pid !== undefined) process.kill(worker.pid, 'SIGCONT');
    await delay(600); // PostgreSQL publishes backends' counters at most every 500 ms
    const commitsDuringLoad = (await commits()) - commitsBefore;
    const deliveredDuringLoad = sink.received.size - deliveredBefore;
    rss.sample(true);
    const memoryAfterLoadMb = { ingress: await ingress.memory(), worker: await worker.memory() };
    log(`service: load done (${main.statusCounts['202'] ?? 0} accepted); waiting for every event to be COMPLETED`);

    const expected = (warmup?.acceptedIds.length ?? 0) + main.acceptedIds.length;
    let drained = await waitForDrain(expected, options.drainTimeoutSec);
    rss.sample(true);
    // The ingress drains its inserts on SIGTERM: after this no row can appear any more.
    const ingressExit = await ingress.stop();
    if (drained) drained = await waitForDrain(expected, 30);
    if (!drained) log('service: not every event completed within the drain timeout');
    rss.sample(true);
    const workerExit = await worker.stop();
    rss.stop();

    const { rows } = await db.query<EventRow>(
      `SELECT id, external_id, status, extract(epoch FROM received_at) * 1000 AS received_ms, extract(epoch FROM updated_at) * 1000 AS updated_ms
         FROM webhook_events`,
    );
    const attempts = (
      await db.query<{ n: number; events: number; failed: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS events, count(*) FILTER (WHERE NOT succeeded)::int AS failed FROM delivery_attempts`,
      )
    ).rows[0]!;
    await db.end();

    const check = checkRun([warmup, main].filter((r): r is HttpLoadResult => r !== undefined), rows, sink.received, attempts);
    if (!drained) check.problems.unshift('drain timeout');

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
    const perEvent = (cores: number | undefined, events: number) => (cores !== undefined && events > 0 ? Math.round((cores * main.durationSec * 1e6) / events) : undefined);
    const cpuUsPerEvent = cpu
      ? Object.fromEntries(
          Object.entries({
            ingress: perEvent(cpu.ingress, main.responses),
            worker: perEvent(cpu.worker, deliveredDuringLoad),
            pgBackends: perEvent(cpu.pgBackends, main.responses),
            postgres: perEvent(cpu.postgres, main.responses),
            redis: perEvent(cpu['redis-server'], main.responses),
            loadgen: perEvent(cpu.loadgen, main.responses),
          }).filter(([, value]) => value !== undefined),
        ) as Record<string, number>
      : undefined;
    const non2xx = Object.entries(main.statusCounts).reduce((sum, [status, count]) => (Number(status) >= 300 ? sum + count : sum), 0);
    if (main.sampleErrors.length > 0) log(`service: non-2xx answers, e.g. ${main.sampleErrors.join(' | ')}`);
    return {
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
      cpuUsPerEvent,
      check,
      exitCodes: { ingress: ingressExit, worker: workerExit },
      logs: { ingress: { warnings: ingress.warnings, errors: ingress.errors }, worker: { warnings: worker.warnings, errors: worker.errors } },
    };
  } catch (error) {
    for (const service of [ingress, worker]) log(`${service.role} log tail:\n${service.tail.join('\n')}`);
    throw error;
  } finally {
    rss.stop();
    await loader.close();
    if (options.pauseWorker && worker.pid !== undefined && worker.child.exitCode === null && worker.child.signalCode === null) process.kill(worker.pid, 'SIGCONT'); // a run that broke mid-load
    await Promise.all([ingress.stop(5000), worker.stop(5000)]);
    await db.end().catch(() => undefined);
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

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const runId = randomBytes(4).toString('hex');
  const started = Date.now();
  const machine = { cpus: cpus().length, loadavg1AtStart: round(loadavg()[0] ?? 0, 2), loadavg1AtEnd: 0 };
  log(`run ${runId}: ${options.durationSec}s per phase, ${options.connections} connections, ${options.payloadBytes} B payloads; load average ${machine.loadavg1AtStart} on ${machine.cpus} cores`);

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

    const baseline = options.skipBaseline ? undefined : await runBaseline(options, runId);
    if (baseline) log(`baseline: ${baseline.insertsPerSec} inserts/s, p99 ${baseline.latencyMs.p99} ms`);
    const service = await runService(options, runId);
    machine.loadavg1AtEnd = round(loadavg()[0] ?? 0, 2);

    const main = service.main;
    const ratio = baseline && baseline.insertsPerSec > 0 ? round(service.acceptedPerSec / baseline.insertsPerSec, 2) : null;
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

    const cpuLine = (cpu?: Record<string, number>) =>
      cpu
        ? Object.entries(cpu)
            .filter(([name]) => name !== 'machineCores' && !name.endsWith('SystemShare'))
            .sort(([, a], [, b]) => b - a)
            .map(([name, cores]) => `${name} ${cores}`)
            .join(', ')
        : 'n/a';
    const lines: string[] = [];
    lines.push('');
    lines.push(`Webhook ingest benchmark — ${options.connections} connections, ${options.payloadBytes} B payloads, ${options.durationSec}s per phase, ${machine.cpus} cores (load avg ${machine.loadavg1AtStart} → ${machine.loadavg1AtEnd})`);
    const overrides = [
      ...Object.entries({ ...options.serviceEnv }).map(([key, value]) => `${key}=${value}`),
      ...Object.entries(options.ingressEnv).map(([key, value]) => `ingress ${key}=${value}`),
      ...Object.entries(options.workerEnv).map(([key, value]) => `worker ${key}=${value}`),
      ...(options.workerNice !== 0 ? [`worker nice ${options.workerNice}`] : []),
      ...(options.pauseWorker ? ['worker paused (SIGSTOP) during the measured load'] : []),
    ];
    if (overrides.length > 0) lines.push(`Not as deployed: ${overrides.join(', ')}`);
    if (baseline) {
      lines.push('');
      lines.push('Baseline: PostgreSQL alone, single-row INSERT … ON CONFLICT DO NOTHING RETURNING, one commit per request');
      lines.push(
        table([
          ['inserts/s', String(baseline.insertsPerSec), `${baseline.inserted} in ${baseline.durationSec}s (${baseline.rows} rows)`],
          ['latency p50 / p95 / p99', `${baseline.latencyMs.p50} / ${baseline.latencyMs.p95} / ${baseline.latencyMs.p99} ms`],
          ['errors', String(baseline.errors)],
          ['cpu (cores)', cpuLine(baseline.cpu)],
          ['cpu µs per insert', baseline.cpuUsPerInsert ? Object.entries(baseline.cpuUsPerInsert).map(([name, us]) => `${name} ${us}`).join(', ') : 'n/a'],
        ]),
      );
    }
    lines.push('');
    const chartWorker = readChartRoleEnv(root).worker;
    lines.push(
      `Service: ingress process + worker process (dist/) with the chart's settings (WORKER_CONCURRENCY=${chartWorker.WORKER_CONCURRENCY}, ` +
        `DATABASE_POOL_SIZE=${chartWorker.DATABASE_POOL_SIZE}), signed Stripe webhooks via autocannon`,
    );
    lines.push(
      table([
        ['accepted/s (202)', String(service.acceptedPerSec), `${main.statusCounts['202'] ?? 0} in ${round(main.durationSec, 2)}s; ratio to baseline ${ratio ?? 'n/a'} (target ≥ ${TARGETS.ratio}: ${yes(targets.throughput)})`],
        ['latency p50 / p95 / p99', `${main.latencyMs.p50} / ${main.latencyMs.p95} / ${main.latencyMs.p99} ms`, `max ${main.latencyMs.max} ms (p99 target ≤ ${TARGETS.p99Ms} ms: ${yes(targets.p99)})`],
        ['errors + non-2xx', String(service.errors), `status counts ${JSON.stringify(main.statusCounts)}, socket errors ${main.autocannon.errors}, timeouts ${main.autocannon.timeouts} (${yes(targets.zeroErrors)})`],
        ['unanswered at stop', String(main.unansweredExternalIds.length), 'requests in flight when the load stopped'],
        ['drain after load', `${service.drainSec} s`, 'until the last event of the phase was COMPLETED'],
        ['end-to-end events/s', String(service.endToEndPerSec), `ingest → delivered → COMPLETED (target ≥ ${TARGETS.endToEndShare}× ingest: ${yes(targets.endToEnd)})`],
        ['delivered/s during load', String(service.deliveredDuringLoadPerSec)],
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
          service.cpuUsPerEvent ? Object.entries(service.cpuUsPerEvent).map(([name, us]) => `${name} ${us}`).join(', ') : 'n/a',
          'worker: per delivery during the load; others: per request; pgBackends: the service\'s own connections, postgres: the rest of the server',
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

    const summary = {
      bench: 'webhook-ingest',
      runId,
      options: {
        durationSec: options.durationSec,
        warmupSec: options.warmupSec,
        connections: options.connections,
        payloadBytes: options.payloadBytes,
        workerNice: options.workerNice,
        pauseWorker: options.pauseWorker,
        serviceEnv: options.serviceEnv,
        ingressEnv: options.ingressEnv,
        workerEnv: options.workerEnv,
      },
      machine,
      baseline: baseline
        ? {
            insertsPerSec: baseline.insertsPerSec,
            p50Ms: baseline.latencyMs.p50,
            p95Ms: baseline.latencyMs.p95,
            p99Ms: baseline.latencyMs.p99,
            errors: baseline.errors,
            cpuCores: baseline.cpu,
            cpuUsPerInsert: baseline.cpuUsPerInsert,
          }
        : null,
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
      check: { ok: c.ok, rows: c.rows, accepted: c.accepted, cutOffRows: c.rowsWithoutAnswer, lost: c.lostAccepted, notCompleted: c.notCompleted, deliveredOnce: c.deliveredOnce, deliveredTwice: c.deliveredTwiceOrMore, notDelivered: c.notDelivered, problems: c.problems },
      rssPeakMb: { ...rssPeakMb, baseline: baseline?.rssPeakMb },
      memoryAfterLoadMb: service.memoryAfterLoadMb,
      cpuCores: service.cpu,
      cpuUsPerEvent: service.cpuUsPerEvent,
      ratio,
      targets,
    };
    // Written before exiting: process.exit() would drop output still queued for a pipe.
    await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(summary)}\n`, () => resolve()));
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
