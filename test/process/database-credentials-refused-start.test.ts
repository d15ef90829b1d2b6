/**
 * PostgreSQL refusing the credentials of DATABASE_URL when a role starts (SQLSTATE class 28: 28P01 a wrong password)
 * is waited out within STARTUP_WAIT_MS, like a PostgreSQL not reachable yet: in Kubernetes the Secret holding the
 * password is often created or rotated just after the pods start (external-secrets, a chart's password job). One
 * warning line for the whole wait (not one per retry), one line when the credentials are accepted and the start goes
 * on; at the deadline the start stops with exit code 1 and one line saying it gave up after N s and why; a SIGTERM
 * meanwhile exits 0; STARTUP_WAIT_MS=0 stops at once. A refusal used to stop every start at once.
 * The suite's PostgreSQL trusts every local connection: the refusal comes from a front (postgres-credentials-front.ts)
 * that answers the startup with 28P01 until told to pass through.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PostgresCredentialsFront } from '../support/postgres-credentials-front.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { testServiceUrls } from '../support/test-services.js';
import { waitFor } from '../support/wait-for.js';

let db: TestDatabase;
const fronts: PostgresCredentialsFront[] = [];
const started: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
}, 120_000);

afterAll(async () => {
  await Promise.all(started.map((process) => process.kill()));
  await Promise.all(fronts.map((front) => front.stop()));
  await db?.drop();
});

/**
 * A front refusing every connection (or, with `onlyDatabase`, only those to that database, as pg_hba.conf does), and
 * DATABASE_URL through it (to the test's database).
 */
async function refusingFront(onlyDatabase?: string): Promise<{ front: PostgresCredentialsFront; url: string; where: string }> {
  const target = new URL(db.url);
  const front = new PostgresCredentialsFront(target.hostname, Number(target.port || 5432), onlyDatabase);
  fronts.push(front);
  const port = await front.start();
  const url = new URL(db.url);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  url.username = 'postgres';
  return { front, url: url.toString(), where: `127.0.0.1:${port}` };
}

async function startRole(role: 'ingress' | 'worker' | 'all', databaseUrl: string, startupWaitMs: number): Promise<ServiceProcess> {
  const service = new ServiceProcess(
    {
      SERVICE_ROLE: role,
      DATABASE_URL: databaseUrl,
      REDIS_URL: testServiceUrls().redisUrl,
      STARTUP_WAIT_MS: String(startupWaitMs),
      QUEUE_PREFIX: `dbauthstart-${randomBytes(3).toString('hex')}`,
      STRIPE_WEBHOOK_SECRET: 'whsec_database_auth_start',
      POD_DELETION_COST_ENABLED: 'false',
    },
    await freePort(),
  );
  started.push(service);
  return service.start({ waitForReady: false });
}

/** The warning lines about refused credentials (the start's one, and any per-retry ones). */
const refusalWarnings = (service: ServiceProcess) =>
  service.jsonLogs().filter((line) => line.level === 'warn' && /refused the credentials|28P01|password authentication failed/.test(JSON.stringify(line)));

const stopLines = (service: ServiceProcess) => service.logs.filter((line) => line.startsWith('Failed to start:'));

describe('PostgreSQL refusing the credentials of DATABASE_URL at start', () => {
  it.each(['ingress', 'all'] as const)('role %s: one warning while waiting, one line once accepted, and the start goes on', async (role) => {
    const { front, url, where } = await refusingFront();
    const service = await startRole(role, url, 120_000);
    await waitFor('the warning that PostgreSQL refused the credentials', () => refusalWarnings(service).length > 0, { timeoutMs: 60_000 });
    // Refused again on the retries while the start waits: still the one warning.
    await waitFor('three refused connections', () => front.refused >= 3, { timeoutMs: 60_000 });
    expect(service.exitState()).toBeUndefined();

    front.passThrough();
    expect(await service.readyOrExited()).toBe(true);
    expect(refusalWarnings(service).map((line) => line.message)).toEqual([
      `PostgreSQL at ${where} (DATABASE_URL) refused the credentials of role "postgres" (28P01); ` +
        'waiting for them to be accepted, up to STARTUP_WAIT_MS (the Secret with the password may not be there yet)',
    ]);
    expect(service.jsonLogs().filter((line) => line.message === 'PostgreSQL accepted the credentials; the start goes on')).toHaveLength(1);
  }, 180_000);

  it('role all: the maintenance database ("postgres") closed to the role is no refusal of its credentials; the start goes on at once', async () => {
    // The migrations first look for the database through the maintenance database, to create it when missing; a
    // pg_hba.conf that lets the role into its own database only refuses that connection (28000). That says nothing of
    // DATABASE_URL's credentials: the database is assumed to exist, and its own connections succeed.
    const { front, url } = await refusingFront('postgres');
    const service = await startRole('all', url, 120_000);
    expect(await service.readyOrExited()).toBe(true);
    expect({ refused: front.refused > 0, warnings: refusalWarnings(service), accepted: service.jsonLogs().filter((line) => /accepted the credentials/.test(String(line.message))) }).toEqual({
      refused: true,
      warnings: [],
      accepted: [],
    });
  }, 180_000);

  it('still refused at the deadline: exits 1 with one line saying it gave up after N s and why', async () => {
    const { url, where } = await refusingFront();
    const service = await startRole('ingress', url, 4000);
    const { code } = await service.exited(120_000);
    expect({ code, stopLines: stopLines(service) }).toEqual({
      code: 1,
      stopLines: [
        expect.stringMatching(
          new RegExp(
            `^Failed to start: PostgreSQL at ${where.replace(/\./g, '\\.')} \\(DATABASE_URL\\) refused the credentials of role "postgres" \\(gave up after \\d+ s\\): ` +
              `password authentication failed for user "postgres"; set DATABASE_URL's password to the role's \\(percent-encoded\\)$`,
          ),
        ),
      ],
    });
    expect(refusalWarnings(service)).toHaveLength(1);
  }, 180_000);

  it('SIGTERM while waiting exits 0 promptly', async () => {
    const { url } = await refusingFront();
    const service = await startRole('worker', url, 120_000);
    await waitFor('the warning that PostgreSQL refused the credentials', () => refusalWarnings(service).length > 0, { timeoutMs: 60_000 });
    service.signal('SIGTERM');
    // Well before STARTUP_WAIT_MS (120 s) or SHUTDOWN_TIMEOUT_MS's forced exit (25 s): the wait was stopped.
    expect(await service.exited(15_000)).toEqual({ code: 0, signal: null });
  }, 180_000);

  it('STARTUP_WAIT_MS=0: stops at once, without waiting', async () => {
    const { front, url, where } = await refusingFront();
    const service = await startRole('ingress', url, 0);
    const { code } = await service.exited(60_000);
    expect({ code, stopLines: stopLines(service), refused: front.refused, warnings: refusalWarnings(service) }).toEqual({
      code: 1,
      stopLines: [
        `Failed to start: PostgreSQL at ${where} (DATABASE_URL) refused the credentials of role "postgres": ` +
          `password authentication failed for user "postgres"; set DATABASE_URL's password to the role's (percent-encoded)`,
      ],
      refused: 1,
      warnings: [],
    });
  }, 180_000);
});
