/**
 * A Redis that refuses the connection's credentials when a role starts is waited out within STARTUP_WAIT_MS, like a
 * Redis not reachable yet: in Kubernetes the Secret holding the password is often created or rotated just after the
 * pods start (external-secrets, a chart's password job). One warning line for the whole wait (not one per retry),
 * one line when Redis accepts the credentials and the start goes on; at the deadline the start stops with exit code 1
 * and one line naming REDIS_URL, how long it waited and the reason, never the password (README, Configuration); a
 * SIGTERM meanwhile exits 0. With STARTUP_WAIT_MS=0 the refusal stops the start at once, as it always did (it used to
 * carry on after the ~5 s Redis wait, answering webhooks 202 with nothing queued and /health saying
 * `authentication failed`). Until the wait existed, a refusal stopped every start at once, whatever STARTUP_WAIT_MS.
 * The same refusal met later, the password rotated under a running process, keeps it running:
 * redis-refusals-health.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisServer } from '../support/redis-server.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

const password = `right-${randomBytes(6).toString('hex')}`;
const wrong = `wrong-${randomBytes(6).toString('hex')}`;
const userPassword = `alice-${randomBytes(6).toString('hex')}`;
let db: TestDatabase;
let redis: RedisServer;
let admin: Redis;
const started: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  redis = new RedisServer(await RedisServer.freePort());
  await redis.start();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  // Set on this connection, which stays authenticated: every connection opened from now on must give the password.
  await admin.config('SET', 'requirepass', password);
  // A user with a password, disabled (`off`): Redis refuses it as it refuses a wrong password.
  await admin.call('ACL', 'SETUSER', 'alice', 'off', `>${userPassword}`, '~*', '+@all');
}, 120_000);

afterAll(async () => {
  await Promise.all(started.map((process) => process.kill()));
  admin?.disconnect();
  await redis?.destroy();
  await db?.drop();
});

function redisUrl({ user = '', pass = '', db: index = '0' }: { user?: string; pass?: string; db?: string }): string {
  const url = new URL(redis.url);
  url.username = user;
  url.password = pass;
  url.pathname = `/${index}`;
  return url.toString();
}

/** Starts `role` on `url`, not waiting for it to be ready. */
async function startRole(role: 'ingress' | 'worker', url: string, startupWaitMs: number): Promise<ServiceProcess> {
  const service = new ServiceProcess(
    {
      SERVICE_ROLE: role,
      DATABASE_URL: db.url,
      REDIS_URL: url,
      STARTUP_WAIT_MS: String(startupWaitMs),
      QUEUE_PREFIX: `authstart-${randomBytes(3).toString('hex')}`,
      STRIPE_WEBHOOK_SECRET: 'whsec_auth_start',
      POD_DELETION_COST_ENABLED: 'false',
    },
    await freePort(),
  );
  started.push(service);
  return service.start({ waitForReady: false });
}

/** Starts `role` on `url` with STARTUP_WAIT_MS=0 and waits for it to exit (a deadline, not a bound on the start's speed). */
async function refusedStart(role: 'ingress' | 'worker', url: string) {
  const service = await startRole(role, url, 0);
  const { code } = await service.exited(60_000);
  const output = service.logs.join('\n');
  return { code, stopLines: service.logs.filter((line) => line.startsWith('Failed to start:')), output };
}

const where = () => `127.0.0.1:${redis.port}`;

describe('Redis refusing the credentials of REDIS_URL at start, STARTUP_WAIT_MS=0', () => {
  it('a wrong password (WRONGPASS) stops the start: exit 1, one line naming REDIS_URL, no password', async () => {
    const { code, stopLines, output } = await refusedStart('ingress', redisUrl({ pass: wrong }));
    expect({ code, stopLines }).toEqual({
      code: 1,
      stopLines: [
        `Failed to start: Redis at ${where()} (REDIS_URL) refused the password: WRONGPASS invalid username-password pair or user is disabled.; ` +
          "set REDIS_URL's password to the one Redis has now (percent-encoded), or enable the user in Redis's ACL",
      ],
    });
    for (const text of [wrong, password]) expect(output).not.toContain(text);
  }, 120_000);

  it('a disabled user (WRONGPASS) stops the start naming the user, not the password', async () => {
    const { code, stopLines, output } = await refusedStart('worker', redisUrl({ user: 'alice', pass: userPassword }));
    expect({ code, stopLines }).toEqual({
      code: 1,
      stopLines: [
        `Failed to start: Redis at ${where()} (REDIS_URL) refused the password of user "alice" (or the user is disabled): ` +
          "WRONGPASS invalid username-password pair or user is disabled.; set REDIS_URL's password to the one Redis has now (percent-encoded), or enable the user in Redis's ACL",
      ],
    });
    expect(output).not.toContain(userPassword);
  }, 120_000);

  it('no password where Redis requires one (NOAUTH) stops the start saying so, not as a refused db index', async () => {
    const { code, stopLines, output } = await refusedStart('worker', redisUrl({ db: '3' }));
    expect({ code, stopLines }).toEqual({
      code: 1,
      stopLines: [
        `Failed to start: Redis at ${where()} (REDIS_URL) requires a password and REDIS_URL has none: NOAUTH Authentication required.; ` +
          "put it in REDIS_URL's password (redis://:PASSWORD@host:port/db, percent-encoded)",
      ],
    });
    expect(output).not.toContain(password);
  }, 120_000);
});

/** The warning lines about refused credentials (the start's one, and any per-connection or per-retry ones). */
const refusalWarnings = (service: ServiceProcess) =>
  service.jsonLogs().filter((line) => line.level === 'warn' && /refused the credentials|WRONGPASS|NOAUTH/.test(JSON.stringify(line)));

/** Polls until Redis has seen `count` more connections than `since` (each reconnect of a refused connection is one). */
async function moreConnections(server: Redis, since: number, count: number): Promise<void> {
  await waitFor(`${count} more connections to Redis`, async () => (await connectionsReceived(server)) >= since + count, { timeoutMs: 60_000 });
}

async function connectionsReceived(server: Redis): Promise<number> {
  const stats = await server.info('stats');
  return Number(/total_connections_received:(\d+)/.exec(stats)?.[1]);
}

describe('Redis refusing the credentials of REDIS_URL at start, waited out within STARTUP_WAIT_MS', () => {
  // A Redis of these tests alone, its password changed while a service waits: never the shared one.
  let waited: RedisServer;
  let waitedAdmin: Redis;
  const at = () => `127.0.0.1:${waited.port}`;
  const url = (pass: string) => {
    const target = new URL(waited.url);
    target.password = pass;
    target.pathname = '/0';
    return target.toString();
  };

  beforeAll(async () => {
    waited = new RedisServer(await RedisServer.freePort());
    await waited.start();
    waitedAdmin = new Redis(waited.url, { maxRetriesPerRequest: 1 });
  }, 120_000);

  afterAll(async () => {
    waitedAdmin?.disconnect();
    await waited?.destroy();
  });

  it.each([
    ['WRONGPASS', 'a password Redis does not have yet', 'old-password'],
    ['NOAUTH', 'no password where Redis requires one until it is set right', 'required-password'],
  ] as const)('%s (%s): one warning while waiting, one line once accepted, and the start goes on', async (reply, _what, before) => {
    const next = `rotated-${randomBytes(6).toString('hex')}`;
    // This connection stays authenticated across the changes of requirepass.
    await waitedAdmin.config('SET', 'requirepass', `${before}-${randomBytes(4).toString('hex')}`);
    const since = await connectionsReceived(waitedAdmin);
    const service = await startRole('worker', url(reply === 'WRONGPASS' ? next : ''), 120_000);
    await waitFor('the warning that Redis refused the credentials', () => refusalWarnings(service).length > 0, { timeoutMs: 60_000 });
    // Refused again on several reconnects while the start waits: still the one warning.
    await moreConnections(waitedAdmin, since, 4);
    expect(service.exitState()).toBeUndefined();

    await waitedAdmin.config('SET', 'requirepass', reply === 'WRONGPASS' ? next : '');
    expect(await service.readyOrExited()).toBe(true);
    expect(refusalWarnings(service).map((line) => line.message)).toEqual([
      `Redis at ${at()} (REDIS_URL) refused the credentials (${reply === 'WRONGPASS' ? 'WRONGPASS invalid username-password pair or user is disabled.' : 'NOAUTH Authentication required.'}); ` +
        'waiting for them to be accepted, up to STARTUP_WAIT_MS (the Secret with the password may not be there yet)',
    ]);
    expect(service.jsonLogs().filter((line) => line.message === 'Redis accepted the credentials; the start goes on')).toHaveLength(1);
    expect(service.logs.join('\n')).not.toContain(next);
    await service.kill();
  }, 180_000);

  it('still refused at the deadline: exits 1 with one line saying it gave up after N s and why', async () => {
    await waitedAdmin.config('SET', 'requirepass', `kept-${randomBytes(6).toString('hex')}`);
    const service = await startRole('ingress', url(wrong), 4000);
    const { code } = await service.exited(120_000);
    const stopLines = service.logs.filter((line) => line.startsWith('Failed to start:'));
    expect({ code, stopLines }).toEqual({
      code: 1,
      stopLines: [expect.stringMatching(new RegExp(`^Failed to start: Redis at ${at().replace(/\./g, '\\.')} \\(REDIS_URL\\) refused the password \\(gave up after \\d+ s\\): WRONGPASS `))],
    });
    expect(refusalWarnings(service)).toHaveLength(1);
    expect(service.logs.join('\n')).not.toContain(wrong);
  }, 180_000);

  it('refused, then not reachable: the start goes on as with a Redis that is down, not failing at the deadline over the refusal', async () => {
    // A Redis of this case alone: it is stopped (as when it restarts to take the new password, and stays down a while).
    const gone = new RedisServer(await RedisServer.freePort());
    await gone.start();
    const goneAdmin = new Redis(gone.url, { maxRetriesPerRequest: 1 });
    try {
      await goneAdmin.config('SET', 'requirepass', `kept-${randomBytes(6).toString('hex')}`);
      const target = new URL(gone.url);
      target.password = wrong;
      target.pathname = '/0';
      const service = await startRole('ingress', target.toString(), 120_000);
      await waitFor('the warning that Redis refused the credentials', () => refusalWarnings(service).length > 0, { timeoutMs: 60_000 });
      goneAdmin.disconnect();
      await gone.stop();
      // The ingress is ready without Redis (webhooks wait in PENDING for the reconciler); before, the start waited
      // out STARTUP_WAIT_MS (120 s here) and failed saying Redis refused the password.
      expect(await service.readyOrExited()).toBe(true);
      expect(service.logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([]);
      await service.kill();
    } finally {
      goneAdmin.disconnect();
      await gone.destroy();
    }
  }, 180_000);

  it('SIGTERM while waiting exits 0 promptly', async () => {
    await waitedAdmin.config('SET', 'requirepass', `kept-${randomBytes(6).toString('hex')}`);
    const service = await startRole('worker', url(wrong), 120_000);
    await waitFor('the warning that Redis refused the credentials', () => refusalWarnings(service).length > 0, { timeoutMs: 60_000 });
    service.signal('SIGTERM');
    // Well before STARTUP_WAIT_MS (120 s) or SHUTDOWN_TIMEOUT_MS's forced exit (25 s): the wait was stopped.
    expect(await service.exited(15_000)).toEqual({ code: 0, signal: null });
  }, 180_000);
});
