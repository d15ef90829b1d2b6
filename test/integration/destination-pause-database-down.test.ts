/**
 * A pause or resume that PostgreSQL (the record of pauses) did not take is not recorded, and the admin API must not
 * say it is. Every failure of a pause or resume was answered 503 "Recorded, but not yet in effect: Redis did not
 * answer; the workers apply it within 5 s of Redis answering again (no need to send it again)", also when the
 * database refused the change: the operator, told not to send it again, waited for a pause that never came, and
 * deliveries went on to a destination they had paused. Only a change PostgreSQL recorded and Redis did not take is
 * answered so; a database unavailable is answered as on every other route (503 "Storage is temporarily unavailable;
 * retry later", with Retry-After).
 */
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import pg from 'pg';
import { adminRouter } from '../../services/admin/admin-router.js';
import { DestinationControl } from '../../services/admin/destination-control.js';
import type { EventAdminService } from '../../services/admin/event-admin-service.js';
import { DestinationPauses } from '../../services/shared/destinations/destination-pauses.js';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { errorMiddleware } from '../../services/shared/http/error-middleware.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

const TOKEN = 'adm_pause_database_down_0123456789';
const routes = { destinations: { billing: {} } };

let db: TestDatabase;
let ns: TestQueueNamespace;
let redis: Redis;
/** Redis on a port nothing listens on: every command fails at once. */
let redisAway: Redis;
/** PostgreSQL on a port nothing listens on. */
let poolAway: pg.Pool;
const servers: Server[] = [];

/** An admin API whose pauses are recorded through `pool` and copied to `copyTo`. */
async function adminApi(pool: pg.Pool, copyTo: Redis): Promise<string> {
  const state = new DestinationStateStore(copyTo, `${ns.prefix}:webhook-events`);
  const control = new DestinationControl({
    state,
    pauses: new DestinationPauses(pool, state),
    pool,
    queue: {} as Queue,
    routes,
    logger: createLogger('test'),
  });
  const app = express();
  app.use(adminRouter({ token: TOKEN, events: {} as EventAdminService, destinationControl: control }));
  app.use(errorMiddleware(createLogger('test')));
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

const post = async (baseUrl: string, path: string) => {
  const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), message: ((await response.json()) as { message: string }).message };
};

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  redis = new Redis(ns.redisUrl);
  redisAway = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redisAway.on('error', () => undefined);
  poolAway = new pg.Pool({ connectionString: 'postgresql://postgres@127.0.0.1:1/webhooks', connectionTimeoutMillis: 2000 });
  poolAway.on('error', () => undefined);
});

afterAll(async () => {
  for (const server of servers) server.close();
  redis?.disconnect();
  redisAway?.disconnect();
  await poolAway?.end();
  await ns?.cleanup();
  await db?.drop();
});

describe('pause and resume the database did not take', () => {
  it.each(['pause', 'resume'])('%s: answered as the database unavailable, never as recorded', async (action) => {
    const baseUrl = await adminApi(poolAway, redis);
    const answer = await post(baseUrl, `/admin/destinations/billing/${action}`);
    expect(answer.status).toBe(503);
    expect(answer.message).not.toMatch(/Recorded/);
    expect(answer.message).toBe('Storage is temporarily unavailable; retry later');
    expect(answer.retryAfter).not.toBeNull();
  });

  it('a pause PostgreSQL recorded and Redis did not take is still answered as recorded, not yet in effect', async () => {
    const baseUrl = await adminApi(db.pool, redisAway);
    const answer = await post(baseUrl, '/admin/destinations/billing/pause');
    expect(answer.status).toBe(503);
    expect(answer.message).toMatch(/^Recorded, but not yet in effect/);
    expect((await db.pool.query('SELECT destination FROM destination_pauses')).rows).toEqual([{ destination: 'billing' }]);
  });
});
