/**
 * STARTUP_WAIT_MS bounds a start, all its waits together (README; the chart's startup probe is derived to outlast
 * STARTUP_WAIT_MS + 60 s). Found: SERVICE_ROLE=all (and `npm run migrate`) waited up to STARTUP_WAIT_MS for PostgreSQL,
 * then began a second STARTUP_WAIT_MS for what other sessions hold (the migrations' lock another process holds, a
 * table lock), counted from when PostgreSQL first answered: a start could last about twice STARTUP_WAIT_MS, and with
 * the default 120 s the kubelet killed it first, with no line saying what it waited for.
 *
 * Here PostgreSQL (behind a proxy) comes up some seconds into the start, and another session holds the migrations'
 * lock throughout: the start must give up STARTUP_WAIT_MS after it began, not STARTUP_WAIT_MS after PostgreSQL came.
 * Times are read from the service's own log lines, so the time its process takes to load counts for nothing.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import pg from 'pg';
import { ADVISORY_LOCKS } from '../../services/shared/database/advisory-lock.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const STARTUP_WAIT_MS = 12_000;
/**
 * How long into the start PostgreSQL stays away (at least): half the budget, so that a start with two budgets
 * (STARTUP_WAIT_MS + DATABASE_AWAY_MS = 18 s or more) and one with one (12 s plus a poll and a statement) stay seconds
 * apart even on a loaded machine.
 */
const DATABASE_AWAY_MS = 6000;

let db: TestDatabase;
let ns: TestQueueNamespace;
let lockHolder: pg.Client;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  lockHolder = new pg.Client({ connectionString: db.url, application_name: 'another-migration' });
  await lockHolder.connect();
  await lockHolder.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCKS.migrations]);
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await lockHolder?.end().catch(() => undefined);
  await ns?.cleanup();
  await db?.drop();
});

const at = (line: Record<string, unknown>) => Date.parse(String(line.timestamp));

it('SERVICE_ROLE=all waiting for PostgreSQL, then for the migrations lock, gives up STARTUP_WAIT_MS after its start began, saying what it waited for', async () => {
  const target = new URL(db.url);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  cleanups.push(() => proxy.stop());
  const proxyPort = await freePort();
  const throughProxy = new URL(db.url);
  throughProxy.port = String(proxyPort);

  const service = new ServiceProcess(
    {
      SERVICE_ROLE: 'all',
      DATABASE_URL: throughProxy.toString(),
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: 'whsec_one_deadline',
      STARTUP_WAIT_MS: String(STARTUP_WAIT_MS),
    },
    await freePort(),
  );
  cleanups.push(() => service.kill());
  await service.start({ waitForReady: false });

  const retries = () =>
    service.jsonLogs().filter((line) => line.message === `PostgreSQL at 127.0.0.1:${proxyPort} (DATABASE_URL) not reachable yet; retrying`);
  // PostgreSQL comes once the start has waited DATABASE_AWAY_MS for it (by the service's clock).
  await waitFor(`retries for ${DATABASE_AWAY_MS} ms`, () => retries().length > 0 && at(retries().at(-1)!) - at(retries()[0]!) >= DATABASE_AWAY_MS, {
    timeoutMs: 60_000,
    intervalMs: 50,
  });
  await proxy.start(proxyPort);

  expect(await service.exited(90_000)).toEqual({ code: 1, signal: null });
  const logs = service.jsonLogs();
  expect(logs.filter((line) => line.message === 'another process is applying the migrations; waiting for its lock')).toHaveLength(1);
  const failed = logs.find((line) => line.message === 'service failed to start')!;
  const error = failed.error as { code?: string; message?: string };
  expect(error.code).toBe('MIGRATION_LOCK_WAIT_EXCEEDED');
  // What it waited for, and for how long: the whole start's wait, not only the part since PostgreSQL answered.
  const waited = /^migrations gave up after (\d+) s waiting for the migrations lock, which another process applying them holds: held by pid \d+ \(application "another-migration"/.exec(
    error.message ?? '',
  );
  expect(waited).not.toBeNull();
  expect(Number(waited![1])).toBeGreaterThanOrEqual(STARTUP_WAIT_MS / 1000);
  // The start gave up STARTUP_WAIT_MS after its first attempt (plus the poll and a statement naming the holder), not
  // STARTUP_WAIT_MS after PostgreSQL answered (which would be DATABASE_AWAY_MS later still).
  const gaveUpAfterMs = at(failed) - at(retries()[0]!);
  expect({ gaveUpAfterMs, withinOneBudget: gaveUpAfterMs < STARTUP_WAIT_MS + DATABASE_AWAY_MS - 500 }).toEqual({ gaveUpAfterMs, withinOneBudget: true });
}, 120_000);
