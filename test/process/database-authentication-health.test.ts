/**
 * PostgreSQL refusing the service's role once the service runs (a role disabled or its password rotated before the
 * pods' secret), as `/health` names it: `authentication failed` (README: `GET /health`; docs/runbooks.md,
 * WebhookStorageUnavailable), never the role's name; readiness 503 (the database gates every role); the log has
 * PostgreSQL's own error. The suite's PostgreSQL trusts local connections, so the refusal here is a role that may
 * no longer log in (SQLSTATE 28000, the class a wrong password's 28P01 belongs to).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { RedisServer } from '../support/redis-server.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, withAdminClient, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

const role = `healthcat_${randomBytes(4).toString('hex')}`;
let db: TestDatabase;
let redis: RedisServer;
let ingress: ServiceProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = new RedisServer(await RedisServer.freePort());
  await redis.start();
  await withAdminClient((client) => client.query(`CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN`));
  // What the ingress's checks and start read: the migrations table (schema check) and SELECT 1.
  await db.pool.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${pg.escapeIdentifier(role)}`);
  const url = new URL(db.url);
  url.username = role;
  ingress = new ServiceProcess(
    {
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: url.toString(),
      REDIS_URL: redis.url,
      QUEUE_PREFIX: `db-auth-${randomBytes(3).toString('hex')}`,
      STRIPE_WEBHOOK_SECRET: 'whsec_database_authentication',
      POD_DELETION_COST_ENABLED: 'false',
    },
    await freePort(),
  );
  await ingress.start();
  await waitFor('the ingress ready', async () => (await fetch(`${ingress.baseUrl}/health/ready`)).status === 200);
}, 120_000);

afterAll(async () => {
  await ingress?.kill();
  await redis?.destroy();
  await db?.drop();
  await withAdminClient((client) => client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`));
});

describe('PostgreSQL refusing the service\'s role, as /health reports it', () => {
  it('says "authentication failed", not the role, with readiness 503; the log has PostgreSQL\'s error', async () => {
    await withAdminClient(async (client) => {
      await client.query(`ALTER ROLE ${pg.escapeIdentifier(role)} NOLOGIN`);
      // Sessions already open are not affected by NOLOGIN: end them, as a failover or a restart would.
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
    });
    // The first check may meet a pooled session as it closes ("Connection terminated": unreachable); the next ones
    // open a new session, which PostgreSQL refuses.
    const down = await waitFor('/health reporting authentication failed', async () => {
      const response = await fetch(`${ingress.baseUrl}/health`);
      const text = await response.text();
      const database = (JSON.parse(text) as { details: { database: { status: string; message?: string } } }).details.database;
      if (database.message === 'authentication failed') return { code: response.status, database, text };
      throw new Error(text); // shown if it never comes
    });
    expect({ code: down.code, database: down.database }).toEqual({ code: 503, database: { status: 'down', message: 'authentication failed' } });
    expect(down.text).not.toContain(role);
    const ready = await fetch(`${ingress.baseUrl}/health/ready`);
    expect({ code: ready.status, database: ((await ready.json()) as { details: { database: unknown } }).details.database }).toEqual({
      code: 503,
      database: { status: 'down', message: 'authentication failed' },
    });
    const logged = await waitFor('the logged refusal', () =>
      ingress.jsonLogs().find((line) => line.message === 'dependency check failed' && line.dependency === 'database' && line.category === 'authentication failed'),
    );
    expect(logged.error).toMatchObject({ code: '28000', message: expect.stringContaining(role) });
  });
});
