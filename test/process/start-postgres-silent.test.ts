/**
 * A start against a PostgreSQL that accepts the connection, answers its startup, then goes silent (a frozen primary,
 * a network partition, a proxy that stops forwarding): found, the start's own sessions (the database check on
 * /postgres, the migrations' lock session) had no query timeout, and TCP keepalive does not notice such a silence (the
 * proxy's or the frozen server's kernel still acknowledges). The start waited for ever, past STARTUP_WAIT_MS, until
 * the startup probe killed it with no line saying why. It must end by STARTUP_WAIT_MS (plus one statement's answer
 * wait, start-session-query.ts) with one line naming PostgreSQL and what it waited for, having tried fresh connections.
 *
 * The ingress and worker roles' start waits on a `SELECT 1` on their pool: found, its answer was waited for the pool's
 * query_timeout (20 s), so with a short STARTUP_WAIT_MS their start ran up to 20 s past it before its line. It now
 * waits START_ANSWER_WAIT_MS too.
 *
 * Once the migrations hold their lock, their own statements (TypeORM's initialize(), a migration's) wait for their
 * answers with no bound (an index build may run long): found, a PostgreSQL gone silent then held npm run migrate for
 * ever (STARTUP_WAIT_MS 6 s: still running after 60 s). The index-build watchdog's check on the lock session, past the
 * deadline, now tells the silence from a long statement and ends the run.
 *
 * The waits are read from the process's own "gave up after N s", so the time its process takes to load counts for
 * nothing; on the code that hung, the process never exits and `exited` times out.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { START_ANSWER_WAIT_MS } from '../../services/shared/database/start-session-query.js';
import { MigrateProcess, buildServiceOnce } from '../support/migrate-process.js';
import { PostgresSilencingProxy } from '../support/postgres-silencing-proxy.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const STARTUP_WAIT_MS = 12_000;
/** What the start may take past STARTUP_WAIT_MS: the last statement's answer wait, and a second for rounding. */
const GAVE_UP_BY_S = (STARTUP_WAIT_MS + START_ANSWER_WAIT_MS) / 1000 + 1;

let db: TestDatabase;
let ns: TestQueueNamespace;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  buildServiceOnce();
  db = await createTestDatabase();
  ns = createQueueNamespace();
}, 300_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  await ns?.cleanup();
  await db?.drop();
});

async function silencingProxy(databaseUrl = db.url): Promise<{ proxy: PostgresSilencingProxy; url: string; where: string }> {
  const target = new URL(databaseUrl);
  const proxy = new PostgresSilencingProxy(target.hostname, Number(target.port || 5432));
  cleanups.push(() => proxy.stop());
  const port = await proxy.start();
  const url = new URL(databaseUrl);
  url.port = String(port);
  return { proxy, url: url.toString(), where: `127.0.0.1:${port}` };
}

/** The first statement TypeORM's initialize() sends on a migrations session: the one a silence from its start holds. */
const MIGRATIONS_FIRST_STATEMENT = 'SELECT version()';

/** The message of a start's "service failed to start" line. */
function startFailureOf(service: ServiceProcess): string {
  const failed = service.jsonLogs().find((line) => line.message === 'service failed to start')!;
  return String((failed.error as { message?: unknown }).message);
}

/** The line of a start that gave up on a PostgreSQL gone silent during `statement`; its group 1: the seconds waited. */
function silentPostgresLine(where: string, statement: string, prefix = ''): RegExp {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(
    `^${escape(prefix)}PostgreSQL is not reachable at ${escape(where)} \\(DATABASE_URL\\): no answer to "${escape(statement)}" for \\d+ s: ` +
      'the connection was accepted, then PostgreSQL went silent .* \\(gave up after (\\d+) s\\)$',
  );
}

it('SERVICE_ROLE=all against a PostgreSQL silent after every startup gives up within STARTUP_WAIT_MS, retrying fresh connections, and says so', async () => {
  const { proxy, url, where } = await silencingProxy();
  proxy.silence(() => true);
  const service = new ServiceProcess(
    {
      SERVICE_ROLE: 'all',
      DATABASE_URL: url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: 'whsec_silent_start',
      STARTUP_WAIT_MS: String(STARTUP_WAIT_MS),
    },
    await freePort(),
  );
  cleanups.push(() => service.kill());
  await service.start({ waitForReady: false });

  expect(await service.exited(90_000)).toEqual({ code: 1, signal: null });
  const logs = service.jsonLogs();
  const message = startFailureOf(service);
  const said = silentPostgresLine(where, 'SELECT 1 FROM pg_database WHERE datname = $1').exec(message);
  expect({ message, said: said !== null }).toEqual({ message, said: true });
  expect(Number(said![1])).toBeLessThanOrEqual(GAVE_UP_BY_S);
  expect(Number(said![1])).toBeGreaterThanOrEqual(STARTUP_WAIT_MS / 1000 - 1);
  // It tried again on a fresh connection while the deadline lasted, saying so.
  expect(logs.filter((line) => line.message === `PostgreSQL at ${where} (DATABASE_URL) not reachable yet; retrying`).length).toBeGreaterThanOrEqual(1);
  expect(proxy.silenced.length).toBeGreaterThanOrEqual(2);
}, 180_000);

it('npm run migrate whose lock session goes silent after its startup gives up within STARTUP_WAIT_MS, naming the statement it waited for', async () => {
  const { proxy, url, where } = await silencingProxy();
  proxy.silence((startup) => startup.application_name === 'migrations-lock');
  const migrate = new MigrateProcess(url, { STARTUP_WAIT_MS: String(STARTUP_WAIT_MS) });
  cleanups.push(() => migrate.kill('SIGKILL'));

  await waitFor('npm run migrate to exit', () => migrate.exitCode !== undefined, { timeoutMs: 90_000, intervalMs: 100 });
  expect(migrate.exitCode).toBe(1);
  const failures = migrate.failures();
  expect(failures).toHaveLength(1);
  const said = silentPostgresLine(where, 'SELECT pg_try_advisory_lock($1) AS locked', 'Migrations failed: ').exec(failures[0]!);
  expect({ failure: failures[0], said: said !== null }).toEqual({ failure: failures[0], said: true });
  expect(Number(said![1])).toBeLessThanOrEqual(GAVE_UP_BY_S);
  expect(proxy.silenced.every((startup) => startup.application_name === 'migrations-lock')).toBe(true);
}, 180_000);

/** A STARTUP_WAIT_MS well short of the pool's query_timeout (20 s), which the roles' first SELECT 1 used to wait. */
const SHORT_STARTUP_WAIT_MS = 6000;

it.each(['ingress', 'worker'] as const)(
  'SERVICE_ROLE=%s against a PostgreSQL silent after every startup gives up within STARTUP_WAIT_MS plus one answer wait, not the pool\'s query timeout',
  async (role) => {
    const { proxy, url, where } = await silencingProxy();
    proxy.silence((startup) => startup.application_name === `webhooks-${role}`);
    const service = new ServiceProcess(
      {
        SERVICE_ROLE: role,
        DATABASE_URL: url,
        REDIS_URL: ns.redisUrl,
        QUEUE_PREFIX: ns.prefix,
        ...(role === 'ingress' ? { STRIPE_WEBHOOK_SECRET: 'whsec_silent_start' } : { POD_DELETION_COST_ENABLED: 'false' }),
        STARTUP_WAIT_MS: String(SHORT_STARTUP_WAIT_MS),
      },
      await freePort(),
    );
    cleanups.push(() => service.kill());
    await service.start({ waitForReady: false });

    expect(await service.exited(90_000)).toEqual({ code: 1, signal: null });
    const message = startFailureOf(service);
    const said = silentPostgresLine(where, 'SELECT 1').exec(message);
    expect({ message, said: said !== null }).toEqual({ message, said: true });
    expect(Number(said![1])).toBeLessThanOrEqual((SHORT_STARTUP_WAIT_MS + START_ANSWER_WAIT_MS) / 1000 + 1);
    expect(proxy.silenced.length).toBeGreaterThanOrEqual(1);
    expect(proxy.silenced.every((startup) => startup.application_name === `webhooks-${role}`)).toBe(true);
  },
  180_000,
);

it('npm run migrate whose PostgreSQL goes silent once the migrations hold their lock gives up within STARTUP_WAIT_MS plus one answer wait', async () => {
  const { proxy, url, where } = await silencingProxy();
  // A frozen primary: every session silent, the lock session once it has taken the lock (its startup, the try-lock).
  proxy.silence(
    (startup) => startup.application_name === 'migrations' || startup.application_name === 'migrations-lock',
    (startup) => (startup.application_name === 'migrations-lock' ? 2 : 1),
  );
  const migrate = new MigrateProcess(url, { STARTUP_WAIT_MS: String(SHORT_STARTUP_WAIT_MS) });
  cleanups.push(() => migrate.kill('SIGKILL'));

  await waitFor('npm run migrate to exit', () => migrate.exitCode !== undefined, { timeoutMs: 90_000, intervalMs: 100 });
  expect(migrate.exitCode).toBe(1);
  const failures = migrate.failures();
  expect(failures).toHaveLength(1);
  // The line names the migrations' statement that waited (TypeORM's first, in initialize()), not the watchdog's check
  // that noticed the silence ("SELECT pid, query FROM pg_stat_activity …", which it quoted before).
  const said = silentPostgresLine(where, MIGRATIONS_FIRST_STATEMENT, 'Migrations failed: ').exec(failures[0]!);
  expect({ failure: failures[0], said: said !== null }).toEqual({ failure: failures[0], said: true });
  expect(Number(said![1])).toBeLessThanOrEqual((SHORT_STARTUP_WAIT_MS + START_ANSWER_WAIT_MS) / 1000 + 1);
  // Both kinds of session went silent: the migrations' own, then the lock session's check.
  expect(new Set(proxy.silenced.map((startup) => startup.application_name))).toEqual(new Set(['migrations', 'migrations-lock']));
}, 180_000);

/**
 * STARTUP_WAIT_MS=0 means "no waiting": PostgreSQL and a table lock are tried once, and the waits for what other
 * sessions hold are left to what runs the migrations (the chart Job's activeDeadlineSeconds). Found, it also meant no
 * watching: the index-build watchdog, which tells a silent PostgreSQL from a long statement, checked only from the
 * deadline on, and with none never did; a PostgreSQL gone silent once the migrations held their lock held `npm run
 * migrate` for ever. Silence is not a wait for another session: the watchdog now asks throughout, and the run ends
 * START_ANSWER_WAIT_MS after a check goes unanswered. On the code that hung, the process never exits.
 */
it('npm run migrate with STARTUP_WAIT_MS=0 whose PostgreSQL goes silent once the migrations hold their lock ends, saying so', async () => {
  // A database of its own: the test above leaves its silent lock session holding the migrations' lock on the shared one.
  const own = await createTestDatabase();
  cleanups.push(() => own.drop());
  const { proxy, url, where } = await silencingProxy(own.url);
  proxy.silence(
    (startup) => startup.application_name === 'migrations' || startup.application_name === 'migrations-lock',
    (startup) => (startup.application_name === 'migrations-lock' ? 2 : 1),
  );
  const migrate = new MigrateProcess(url, { STARTUP_WAIT_MS: '0' });
  cleanups.push(() => migrate.kill('SIGKILL'));

  await waitFor('npm run migrate to exit', () => migrate.exitCode !== undefined, { timeoutMs: 90_000, intervalMs: 100 });
  expect(migrate.exitCode).toBe(1);
  const failures = migrate.failures();
  expect(failures).toHaveLength(1);
  // No "gave up after": with STARTUP_WAIT_MS=0 the start waits for nothing.
  const said = new RegExp(
    `^Migrations failed: PostgreSQL is not reachable at ${where.replace(/\./g, '\\.')} \\(DATABASE_URL\\): no answer to "${MIGRATIONS_FIRST_STATEMENT.replace(/[()]/g, '\\$&')}" for \\d+ s: ` +
      'the connection was accepted, then PostgreSQL went silent \\([^)]*\\)$',
  ).exec(failures[0]!);
  expect({ failure: failures[0], said: said !== null }).toEqual({ failure: failures[0], said: true });
  expect(new Set(proxy.silenced.map((startup) => startup.application_name))).toEqual(new Set(['migrations', 'migrations-lock']));
}, 180_000);
