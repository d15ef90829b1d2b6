/**
 * A fresh install starts the app before its database and Redis accept connections. The service waits for them
 * (a log line per retry) within STARTUP_WAIT_MS instead of exiting, then serves and delivers as usual.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runMigrations } from '../../services/shared/database/run-migrations.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { HttpSink } from '../support/http-sink.js';
import { RedisServer } from '../support/redis-server.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, dropDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_start_before_dependencies';
let db: TestDatabase;
let sink: HttpSink;
let routes: TempRoutesFile;
const started: ServiceProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [db, sink] = await Promise.all([createTestDatabase(), new HttpSink().start()]);
  routes = writeRoutesFile({ destinations: { sink: { url: `${sink.url}/hooks` } }, routes: [{ provider: 'stripe', to: ['sink'] }] });
});

afterAll(async () => {
  for (const service of started) await service.kill();
  for (const cleanup of cleanups) await cleanup();
  await sink?.stop();
  routes?.remove();
  await db?.drop();
});

/** PostgreSQL behind a proxy that is not listening yet, and a Redis server not started yet. */
async function absentDependencies() {
  const target = new URL(db.url);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  const proxyPort = await freePort();
  const redis = new RedisServer(await RedisServer.freePort());
  cleanups.push(() => proxy.stop(), () => redis.destroy());
  const databaseUrl = new URL(db.url);
  databaseUrl.port = String(proxyPort);
  return { proxy, proxyPort, redis, databaseUrl: databaseUrl.toString() };
}

describe('starting before PostgreSQL and Redis accept connections', () => {
  it.each(['all', 'worker'] as const)('role %s waits, logs each retry, then serves and delivers', async (role) => {
    const deps = await absentDependencies();
    const env = {
      DATABASE_URL: deps.databaseUrl,
      REDIS_URL: deps.redis.url,
      QUEUE_PREFIX: `start-${role}`,
      STRIPE_WEBHOOK_SECRET: SECRET,
      ROUTES_FILE: routes.path,
      STARTUP_WAIT_MS: '60000',
      POD_DELETION_COST_ENABLED: 'false',
    };
    const service = new ServiceProcess({ ...env, SERVICE_ROLE: role }, await freePort());
    started.push(service);
    await service.start({ waitForReady: false });
    // Names PostgreSQL and where DATABASE_URL points.
    const retries = () => service.jsonLogs().filter((line) => line.message === `PostgreSQL at 127.0.0.1:${deps.proxyPort} (DATABASE_URL) not reachable yet; retrying`);
    await waitFor('two retry lines while PostgreSQL is away', () => retries().length >= 2, { timeoutMs: 30_000 });
    expect(service.logs.join('\n')).not.toContain('Failed to start');

    await Promise.all([deps.proxy.start(deps.proxyPort), deps.redis.start()]);
    await waitFor(`${role} ready`, async () => (await fetch(`${service.baseUrl}/health/ready`).catch(() => undefined))?.status === 200, {
      timeoutMs: 30_000,
    });

    // The worker needs an ingress to be sent anything; the all-in-one process is its own.
    let ingress = service;
    if (role === 'worker') {
      ingress = new ServiceProcess({ ...env, SERVICE_ROLE: 'ingress' }, await freePort());
      started.push(ingress);
      await ingress.start();
    }
    const id = `evt_start_before_${role}`;
    const { body, headers } = signedStripeRequest(SECRET, { id });
    expect((await postWebhook(ingress.baseUrl, 'stripe', body, headers)).status).toBe(202);
    await waitFor(`${id} delivered`, () => sink.requests.some((request) => JSON.parse(request.body.toString()).id === id), { timeoutMs: 30_000 });
  });

  it('an ingress started before its database exists waits for it (the migration Job creates it), then serves', async () => {
    const name = `webhooks_test_later_${process.pid}_${Date.now()}`;
    const url = new URL(db.url);
    url.pathname = `/${name}`;
    cleanups.push(() => dropDatabase(name));
    const redis = new RedisServer(await RedisServer.freePort());
    cleanups.push(() => redis.destroy());
    await redis.start();
    const service = new ServiceProcess(
      { SERVICE_ROLE: 'ingress', DATABASE_URL: url.toString(), REDIS_URL: redis.url, STRIPE_WEBHOOK_SECRET: SECRET, STARTUP_WAIT_MS: '60000' },
      await freePort(),
    );
    started.push(service);
    await service.start({ waitForReady: false });
    // Says the database does not exist (not that PostgreSQL is unreachable), and what creates it.
    const missing = `database "${name}" does not exist yet on PostgreSQL at ${url.hostname}:${url.port || 5432} (DATABASE_URL); waiting for it: npm run migrate (or SERVICE_ROLE=all, or the chart's migration Job) creates it`;
    await waitFor('a retry line while the database does not exist', () => service.jsonLogs().some((line) => line.message === missing), { timeoutMs: 30_000 });
    expect(service.logs.join('\n')).not.toContain('Failed to start');

    await runMigrations({ url: url.toString(), logger: createLogger('test-migrations') });
    await waitFor('ingress ready', async () => (await fetch(`${service.baseUrl}/health/ready`).catch(() => undefined))?.status === 200, { timeoutMs: 30_000 });
    const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_database_created_later' });
    expect((await postWebhook(service.baseUrl, 'stripe', body, headers)).status).toBe(202);
  });

  it('gives up after STARTUP_WAIT_MS with one line naming the problem, exit code 1', async () => {
    const deps = await absentDependencies();
    const service = new ServiceProcess(
      { SERVICE_ROLE: 'ingress', DATABASE_URL: deps.databaseUrl, REDIS_URL: deps.redis.url, STRIPE_WEBHOOK_SECRET: SECRET, STARTUP_WAIT_MS: '1500' },
      await freePort(),
    );
    started.push(service);
    await service.start({ waitForReady: false });
    expect((await service.exited(30_000)).code).toBe(1);
    // Names PostgreSQL and DATABASE_URL's host:port, not only the driver's "connect ECONNREFUSED …".
    expect(service.logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([
      expect.stringMatching(new RegExp(`^Failed to start: PostgreSQL is not reachable at 127\\.0\\.0\\.1:${deps.proxyPort} \\(DATABASE_URL\\): connect ECONNREFUSED .* \\(gave up after 2 s\\)$`)),
    ]);
  });
});
