/**
 * A Redis that refuses the connection's credentials when a role starts is a configuration mistake, like a db index it
 * refuses (redis-db-index-out-of-range.test.ts): the start stops with exit code 1 and one line naming REDIS_URL and
 * the reason, never the password (README, Configuration). It used to carry on after the ~5 s Redis wait, answering
 * webhooks 202 with nothing queued and /health saying `authentication failed`.
 * The same refusal met later, the password rotated under a running process, keeps it running:
 * redis-refusals-health.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisServer } from '../support/redis-server.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

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

/** Starts `role` on `url` and waits for it to exit (a deadline, not a bound on the start's speed). */
async function refusedStart(role: 'ingress' | 'worker', url: string) {
  const service = new ServiceProcess(
    {
      SERVICE_ROLE: role,
      DATABASE_URL: db.url,
      REDIS_URL: url,
      QUEUE_PREFIX: `authstart-${randomBytes(3).toString('hex')}`,
      STRIPE_WEBHOOK_SECRET: 'whsec_auth_start',
      POD_DELETION_COST_ENABLED: 'false',
    },
    await freePort(),
  );
  started.push(service);
  await service.start({ waitForReady: false });
  const { code } = await service.exited(60_000);
  const output = service.logs.join('\n');
  return { code, stopLines: service.logs.filter((line) => line.startsWith('Failed to start:')), output };
}

const where = () => `127.0.0.1:${redis.port}`;

describe('Redis refusing the credentials of REDIS_URL at start', () => {
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
