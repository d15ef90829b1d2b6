/**
 * `/health` and `/health/ready` answer anyone who reaches the port (the ingress's is the public webhook port). A
 * dependency that is down is reported there by a short, fixed category, never by the driver's text, which names
 * hosts and ports ("connect ECONNREFUSED 127.0.0.1:…"), databases ("database "…" does not exist") and users; the
 * full text is in the log line `dependency check failed`, for operators.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisServer } from '../support/redis-server.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, dropDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

interface HealthBody {
  status: string;
  details: Record<string, { status: string; message?: string }>;
}

const databases: TestDatabase[] = [];
const started: ServiceProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const service of started) await service.kill();
  for (const cleanup of cleanups) await cleanup();
  for (const db of databases) await db.drop();
});

async function startIngress(databaseUrl: string, redisUrl: string): Promise<ServiceProcess> {
  const service = new ServiceProcess(
    {
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: `health-text-${started.length}`,
      STRIPE_WEBHOOK_SECRET: 'whsec_health_failure_text',
      POD_DELETION_COST_ENABLED: 'false',
    },
    await freePort(),
  );
  started.push(service);
  return service.start();
}

async function health(service: ServiceProcess, path = '/health'): Promise<{ code: number; text: string; body: HealthBody }> {
  const response = await fetch(`${service.baseUrl}${path}`);
  const text = await response.text();
  return { code: response.status, text, body: JSON.parse(text) as HealthBody };
}

/** The `dependency check failed` lines of `dependency` whose logged error says `text`. */
function failureLines(service: ServiceProcess, dependency: string, text: string) {
  return service.jsonLogs().filter((line) => {
    if (line.message !== 'dependency check failed' || line.dependency !== dependency) return false;
    const error = line.error as { message?: unknown } | undefined;
    return typeof error?.message === 'string' && error.message.includes(text);
  });
}

describe('a dependency down, as /health reports it', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let redis: RedisServer;
  let service: ServiceProcess;

  beforeAll(async () => {
    db = await createTestDatabase();
    databases.push(db);
    const target = new URL(db.url);
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    const databaseUrl = new URL(db.url);
    databaseUrl.port = String(await proxy.start());
    redis = new RedisServer(await RedisServer.freePort());
    await redis.start();
    cleanups.push(() => proxy.stop(), () => redis.destroy());
    service = await startIngress(databaseUrl.toString(), redis.url);
    await waitFor('the ingress ready', async () => (await fetch(`${service.baseUrl}/health/ready`)).status === 200);
  }, 120_000);

  it('says "refused" for PostgreSQL and "unreachable" for Redis, without their addresses; the log has the full error', async () => {
    await proxy.stop();
    await redis.stop();
    // The first check after the cut may meet a pooled session as it closes ("Connection terminated": unreachable);
    // the next ones open a connection nothing accepts.
    const down = await waitFor('/health reporting PostgreSQL refused and Redis down', async () => {
      const seen = await health(service);
      if (seen.body.details.database?.message === 'refused' && seen.body.details.redis?.status === 'down') return seen;
      throw new Error(seen.text); // shown if it never comes
    });
    expect({ code: down.code, status: down.body.status, database: down.body.details.database, redis: down.body.details.redis }).toEqual({
      code: 503,
      status: 'error',
      database: { status: 'down', message: 'refused' },
      redis: { status: 'down', message: 'unreachable' },
    });
    const ready = await health(service, '/health/ready');
    expect({ code: ready.code, database: ready.body.details.database }).toEqual({ code: 503, database: { status: 'down', message: 'refused' } });
    for (const text of [down.text, ready.text]) {
      for (const secret of ['127.0.0.1', String(proxy.port), String(redis.port), db.name, 'ECONNREFUSED']) expect(text).not.toContain(secret);
    }

    // Operators find the driver's own error, naming where it tried, in the log.
    const logged = await waitFor('the logged PostgreSQL error', () => failureLines(service, 'database', `127.0.0.1:${proxy.port}`)[0]);
    expect(logged).toMatchObject({ level: 'warn', scope: 'health', category: 'refused', count: 1 });
    expect(await waitFor('the logged Redis error', () => failureLines(service, 'redis', 'enableOfflineQueue')[0])).toMatchObject({ category: 'unreachable' });
  });

  it('logs each kind of failure once a minute, however often /health is asked', async () => {
    for (let request = 0; request < 20; request++) await health(service);
    // One line at once; the repeats only as a summary line a minute later (with `intervalSeconds` and their count).
    const written = failureLines(service, 'database', `127.0.0.1:${proxy.port}`).filter((line) => line.intervalSeconds === undefined);
    expect(written).toHaveLength(1);
  });
});

describe('a database that no longer exists, as /health reports it', () => {
  it('says "database missing", not the database\'s name; the log names it', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const redis = new RedisServer(await RedisServer.freePort());
    await redis.start();
    cleanups.push(() => redis.destroy());
    const service = await startIngress(db.url, redis.url);
    await waitFor('the ingress ready', async () => (await fetch(`${service.baseUrl}/health/ready`)).status === 200);

    await dropDatabase(db.name);
    // The sessions the DROP … WITH (FORCE) ends first ("terminating connection": unreachable), then new ones are refused.
    const down = await waitFor('/health reporting the database missing', async () => {
      const seen = await health(service);
      if (seen.body.details.database?.message === 'database missing') return seen;
      throw new Error(seen.text); // shown if it never comes
    });
    expect({ code: down.code, database: down.body.details.database }).toEqual({ code: 503, database: { status: 'down', message: 'database missing' } });
    expect(down.text).not.toContain(db.name);
    expect(await waitFor('the logged error naming the database', () => failureLines(service, 'database', `"${db.name}" does not exist`)[0])).toMatchObject({
      category: 'database missing',
    });
  });
});
