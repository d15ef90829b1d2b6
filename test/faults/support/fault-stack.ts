import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisServer } from '../../support/redis-server.js';
import { writeRoutesFile, type RoutesDocument, type TempRoutesFile } from '../../support/routes-file.js';
import { freePort, ServiceProcess } from '../../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.js';
import { ProviderSimulator, type SendOutcome, type SimulatedEvent } from '../../support/provider-simulator.js';
import { RecordingDestination } from './recording-destination.js';
import { figuresTable } from './figures-reporter.js';

export const STRIPE_SECRET = 'whsec_fault_suite_secret';

/** Settings that make recovery fast enough to watch: short locks, stalls, backoff and reconciler passes. */
export const FAST_RECOVERY_ENV: Record<string, string> = {
  RECONCILER_INTERVAL_MS: '500',
  RECONCILER_STALE_MS: '2000',
  WORKER_LOCK_DURATION_MS: '2000',
  WORKER_STALLED_INTERVAL_MS: '1000',
  JOB_BACKOFF_MS: '100',
  JOB_ATTEMPTS: '8',
  WORKER_CONCURRENCY: '16',
  DATABASE_POOL_SIZE: '8',
  DELIVERY_TIMEOUT_MS: '5000',
  SHUTDOWN_TIMEOUT_MS: '10000',
  VERIFICATION_FAILURE_LIMIT_PER_MINUTE: '100000',
  POD_DELETION_COST_ENABLED: 'false',
  LOG_LEVEL: 'info',
};

export interface FaultStackOptions {
  /** Destinations by name; each becomes a ROUTES_FILE destination pointing at its sink. */
  destinations: Record<
    string,
    { destination: RecordingDestination; timeoutMs?: number; maxConcurrency?: number; circuitBreaker?: RoutesDocument['destinations'][string]['circuitBreaker'] }
  >;
  routes: RoutesDocument['routes'];
  env?: Record<string, string>;
}

/**
 * Everything one fault scenario runs against, all of its own: a migrated PostgreSQL database, a redis-server
 * process, destinations, a ROUTES_FILE, and the service processes it starts (real processes, as in production).
 */
export class FaultStack {
  readonly processes: ServiceProcess[] = [];
  readonly env: Record<string, string>;

  private constructor(
    readonly db: TestDatabase,
    readonly redis: RedisServer,
    readonly destinations: RecordingDestination[],
    private readonly routesFile: TempRoutesFile,
    env: Record<string, string>,
  ) {
    this.env = env;
  }

  static async create(options: FaultStackOptions): Promise<FaultStack> {
    const destinations = Object.values(options.destinations).map((entry) => entry.destination);
    const [db, redis] = await Promise.all([
      createTestDatabase(),
      (async () => {
        const server = new RedisServer(await RedisServer.freePort());
        await server.start();
        return server;
      })(),
      ...destinations.map((destination) => destination.start()),
    ]);
    const routesFile = writeRoutesFile({
      destinations: Object.fromEntries(
        Object.entries(options.destinations).map(([name, { destination, timeoutMs, maxConcurrency, circuitBreaker }]) => [
          name,
          {
            url: `${destination.url}/${name}`,
            ...(timeoutMs ? { timeoutMs } : {}),
            ...(maxConcurrency ? { maxConcurrency } : {}),
            ...(circuitBreaker !== undefined ? { circuitBreaker } : {}),
          },
        ]),
      ),
      routes: options.routes,
    });
    const env = {
      ...FAST_RECOVERY_ENV,
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: `faults-${randomBytes(3).toString('hex')}`,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      ROUTES_FILE: routesFile.path,
      ...options.env,
    };
    return new FaultStack(db as TestDatabase, redis as RedisServer, destinations, routesFile, env);
  }

  /** Starts a service process of `role` on a free port and waits until it answers `/health/live`. */
  async start(role: 'ingress' | 'worker' | 'all', env: Record<string, string> = {}, port?: number): Promise<ServiceProcess> {
    const process = new ServiceProcess({ ...this.env, SERVICE_ROLE: role, ...env }, port ?? (await freePort()));
    this.processes.push(process);
    await process.start();
    return process;
  }

  /** A provider sending to `targets` (read on every attempt). */
  provider(targets: () => string[]): ProviderSimulator {
    return new ProviderSimulator({ targets, secret: STRIPE_SECRET });
  }

  /** Ends every session the service processes hold on this scenario's database; returns how many. */
  async terminateServiceSessions(): Promise<number> {
    const { rows } = await this.db.pool.query<{ terminated: boolean }>(
      `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
        WHERE datname = $1 AND application_name LIKE 'webhooks-%' AND pid <> pg_backend_pid()`,
      [this.db.name],
    );
    return rows.filter((row) => row.terminated).length;
  }

  /**
   * What to look at when a scenario loses events: the service's PostgreSQL sessions, the queue's job counts in
   * Redis, and the last log lines of every process.
   */
  async diagnose(): Promise<string> {
    const lines: string[] = [];
    const { rows } = await this.db.pool.query(
      `SELECT application_name, state, wait_event_type, wait_event, left(query, 80) AS query, now() - state_change AS for
         FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [this.db.name],
    );
    lines.push(`pg sessions: ${JSON.stringify(rows)}`);
    const statuses = await this.db.pool.query('SELECT status, count(*)::int AS n FROM webhook_events GROUP BY status');
    lines.push(`event statuses: ${JSON.stringify(statuses.rows)}`);
    const redis = new Redis(this.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const base = `${this.env.QUEUE_PREFIX}:${this.env.QUEUE_NAME ?? 'webhook-events'}`;
      const [wait, active, delayed, failed, completed, prioritized] = await Promise.all([
        redis.llen(`${base}:wait`),
        redis.llen(`${base}:active`),
        redis.zcard(`${base}:delayed`),
        redis.zcard(`${base}:failed`),
        redis.zcard(`${base}:completed`),
        redis.zcard(`${base}:prioritized`),
      ]);
      lines.push(`queue: ${JSON.stringify({ wait, active, delayed, failed, completed, prioritized })}`);
    } catch (error) {
      lines.push(`queue: unreadable (${(error as Error).message})`);
    } finally {
      redis.disconnect();
    }
    // Workers first, short lines: CI shows only part of a long failure output, and the worker is usually the story.
    const roleOf = (process: ServiceProcess) => String(process.jsonLogs().find((line) => line.role)?.role);
    const ordered = [...this.processes].sort((a, b) => Number(roleOf(b) === 'worker') - Number(roleOf(a) === 'worker'));
    for (const process of ordered) {
      const state = process.exitState();
      lines.push(`--- ${roleOf(process)} on ${process.port} (pid ${process.pid}): ${state ? `EXITED ${JSON.stringify(state)}` : 'running'}`);
      // Every distinct warning or error (by message), with how often it came, then the last lines as they came.
      const counts = new Map<string, { n: number; sample: string }>();
      for (const line of process.jsonLogs()) {
        if (line.level !== 'warn' && line.level !== 'error') continue;
        const key = `${String(line.level)} ${String(line.message)}`;
        const seen = counts.get(key) ?? { n: 0, sample: JSON.stringify(line.error ?? line).slice(0, 240) };
        seen.n++;
        counts.set(key, seen);
      }
      for (const [key, { n, sample }] of counts) lines.push(`  ${n}x ${key}: ${sample}`);
      const plain = process.logs.filter((line) => !line.startsWith('{'));
      if (plain.length > 0) lines.push('  non-JSON output:', ...plain.slice(-15).map((line) => `  ${line.slice(0, 240)}`));
      lines.push('  last lines:', ...process.logs.filter((line) => !line.includes('"message":"request"')).slice(-12).map((line) => `  ${line.slice(0, 240)}`));
    }
    return lines.join('\n');
  }

  /** Log lines of every process that mean a bug rather than a fault: unhandled errors and rejections, crashes. */
  unhandled(): string[] {
    return this.processes.flatMap((process) =>
      process
        .jsonLogs()
        .filter((line) => /unhandled|stopped unexpectedly|failed to start/i.test(String(line.message)))
        .map((line) => `[${process.port}] ${JSON.stringify(line).slice(0, 600)}`),
    );
  }

  async teardown(): Promise<void> {
    await Promise.all(this.processes.map((process) => process.kill()));
    await Promise.all(this.destinations.map((destination) => destination.stop()));
    await this.redis.destroy();
    this.routesFile.remove();
    await this.db.drop();
  }
}

/** The figures every scenario ends with. */
export interface Figures {
  scenario: string;
  sent: number;
  accepted: number;
  stored: number;
  delivered: number;
  deliveredTwice: number;
  deadLettered: number;
  lost: number;
  /** Answers that were not acceptances (the provider retried them). */
  answered503: number;
  answered5xxOther: number;
  connectionErrors: number;
  hangs: number;
  /** Events still PENDING/PROCESSING/FAILED when the figures were taken. */
  unfinished: number;
  /** Accepted events whose 2xx id has no row (must be 0). */
  acceptedWithoutRow: number;
  seconds: number;
}

export interface FigureInputs {
  scenario: string;
  stack: FaultStack;
  events: SimulatedEvent[];
  outcomes: SendOutcome[];
  provider: ProviderSimulator;
  /** Destinations an event of this type must reach (default: every destination of the stack). */
  expectedDestinations?: (eventType: string) => RecordingDestination[];
  /** Whether DEAD_LETTER (with every attempt recorded) is a legitimate end for an event of this type. */
  deadLetterExpected?: (eventType: string) => boolean;
  startedAt: number;
}

interface EventRow {
  id: string;
  external_id: string;
  status: string;
  attempts: number;
  recorded_attempts: number;
}

/** Computes the figures from the database, the destinations' books and the provider's answers. */
export async function computeFigures(inputs: FigureInputs): Promise<Figures> {
  const { stack, events, outcomes, provider } = inputs;
  const expected = inputs.expectedDestinations ?? (() => stack.destinations);
  const { rows } = await stack.db.pool.query<EventRow>(
    `SELECT e.id, e.external_id, e.status, e.attempts,
            (SELECT count(DISTINCT d.attempt)::int FROM delivery_attempts d WHERE d.event_id = e.id) AS recorded_attempts
       FROM webhook_events e WHERE e.provider = 'stripe' AND e.external_id = ANY($1::text[])`,
    [events.map((event) => event.externalId)],
  );
  const byExternalId = new Map(rows.map((row) => [row.external_id, row]));
  const typeOf = new Map(events.map((event) => [event.externalId, event.type]));
  const maxAttempts = Number(stack.env.JOB_ATTEMPTS);

  let delivered = 0;
  let deliveredTwice = 0;
  let lost = 0;
  let acceptedWithoutRow = 0;
  for (const outcome of outcomes) {
    const row = byExternalId.get(outcome.externalId);
    const type = typeOf.get(outcome.externalId)!;
    const destinations = expected(type);
    if (row) {
      if (destinations.length > 0 && destinations.every((destination) => destination.deliveries(row.id) >= 1)) delivered++;
      if (destinations.some((destination) => destination.deliveries(row.id) > 1)) deliveredTwice++;
    }
    if (!outcome.eventId) continue; // never accepted: not the service's to lose
    if (!row || outcome.acceptances.some((acceptance) => acceptance.id !== row.id)) {
      acceptedWithoutRow++;
      lost++;
      continue;
    }
    const reachedAll = destinations.every((destination) => destination.deliveries(row.id) >= 1);
    const completed = row.status === 'COMPLETED' && reachedAll;
    const deadLettered =
      row.status === 'DEAD_LETTER' && (inputs.deadLetterExpected?.(type) ?? false) && row.attempts === maxAttempts && row.recorded_attempts === maxAttempts;
    if (!completed && !deadLettered) lost++;
  }
  const summary = provider.summary();
  const otherServerErrors = Object.entries(summary.byStatus)
    .filter(([status]) => Number(status) >= 500 && Number(status) !== 503)
    .reduce((sum, [, count]) => sum + count, 0);
  return {
    scenario: inputs.scenario,
    sent: events.length,
    accepted: outcomes.filter((outcome) => outcome.eventId).length,
    stored: rows.length,
    delivered,
    deliveredTwice,
    deadLettered: rows.filter((row) => row.status === 'DEAD_LETTER').length,
    lost,
    answered503: summary.byStatus['503'] ?? 0,
    answered5xxOther: otherServerErrors,
    connectionErrors: Object.values(summary.connectionErrors).reduce((sum, count) => sum + count, 0),
    hangs: summary.hangs,
    unfinished: rows.filter((row) => !['COMPLETED', 'DEAD_LETTER'].includes(row.status)).length,
    acceptedWithoutRow,
    seconds: Math.round((Date.now() - inputs.startedAt) / 100) / 10,
  };
}

/**
 * Waits (with a deadline) for the system to settle: nothing lost and nothing unfinished; then waits a moment
 * longer so late duplicates would show, and returns the final figures (the caller asserts on them).
 */
export async function settle(inputs: FigureInputs, { timeoutMs = 45_000 }: { timeoutMs?: number } = {}): Promise<Figures> {
  const deadline = Date.now() + timeoutMs;
  let figures = await computeFigures(inputs);
  while ((figures.lost > 0 || figures.unfinished > 0) && Date.now() < deadline) {
    await delay(250);
    figures = await computeFigures(inputs);
  }
  await delay(500);
  return computeFigures(inputs);
}

/** Prints a scenario's figures and hands them to the suite's summary (the figures reporter). */
export function reportFigures(figures: Figures): void {
  console.log(`Fault scenario figures\n${figuresTable([figures])}`);
  const file = process.env.FAULT_FIGURES_FILE;
  if (file) appendFileSync(file, `${JSON.stringify(figures)}\n`);
}
