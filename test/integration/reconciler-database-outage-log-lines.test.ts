/**
 * The reconciler logs the passes that fail while PostgreSQL is unreachable as one outage (a first line, then one line
 * a minute with the count), as it does Redis's (redis-outage-log-lines.test.ts). A refused connection (ECONNREFUSED)
 * already was, its code being one the Redis filter knows; a PostgreSQL gone silent (the pool's connect times out: a
 * node gone without a reset, a network partition) or one that closes each new connection (a proxy or pooler before a
 * database that is down) wrote a `reconciler pass failed` line on every pass (every RECONCILER_INTERVAL_MS, 15 s by
 * default) for as long as it lasted.
 *
 * Against the real PostgreSQL behind a proxy that holds every connection, and a server that closes every connection.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { Redis } from 'ioredis';
import { createPool } from '../../services/shared/database/create-pool.js';
import type { Logger } from '../../services/shared/logging/logger.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

let db: TestDatabase;
let ns: TestQueueNamespace;
let redis: Redis;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  redis?.disconnect();
  await ns?.cleanup();
  await db?.drop();
});

/** A PostgreSQL that accepts connections and never answers: the real one, behind a proxy holding all they send. */
async function silentPostgres(): Promise<number> {
  const target = new URL(db.url);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  await proxy.start();
  proxy.hold({ newConnections: true });
  cleanups.push(() => proxy.stop());
  return proxy.port;
}

/** An endpoint that closes every connection it accepts. */
async function closingEndpoint(): Promise<number> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as net.AddressInfo).port;
}

/** Runs a reconciler on a pool to `port` until five passes have failed; returns its lines and the failed passes. */
async function failedPassesLogged(port: number) {
  const url = new URL(db.url);
  url.host = `127.0.0.1:${port}`;
  const pool: Pool = createPool({ url: url.toString(), size: 2, applicationName: 'reconciler-outage-test' });
  pool.on('error', () => undefined);
  cleanups.push(() => pool.end());
  const lines: { message: string; fields: Record<string, unknown> }[] = [];
  const logger = {
    warn: (message: string, fields: Record<string, unknown> = {}) => void lines.push({ message, fields }),
    info: () => undefined,
    debug: () => undefined,
    error: (message: string, fields: Record<string, unknown> = {}) => void lines.push({ message, fields }),
  } as unknown as Logger;
  const queue = new EventQueue({ connection: redis, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger });
  cleanups.push(() => queue.close());
  const reconciler = new Reconciler({ pool, queue, intervalMs: 100, staleMs: 30_000, logger });
  // Passes counted as they fail.
  let failedPasses = 0;
  const runOnce = reconciler.runOnce.bind(reconciler);
  reconciler.runOnce = () =>
    runOnce().catch((error: unknown) => {
      failedPasses++;
      throw error;
    });
  reconciler.start();
  // The pool's connect gives up after its connectionTimeoutMillis (3 s) on a silent PostgreSQL.
  await waitFor('five passes to fail on PostgreSQL', async () => failedPasses >= 5, { timeoutMs: 90_000, intervalMs: 100 });
  await reconciler.stop();
  const failed = lines.filter((line) => line.message === 'reconciler pass failed');
  return {
    summary: {
      lines: failed.length,
      first: failed[0]?.fields.count,
      total: failed.reduce((sum, line) => sum + (line.fields.count as number), 0),
      otherLines: lines.filter((line) => line.message !== 'reconciler pass failed').map((line) => line.message),
    },
    firstError: String((failed[0]?.fields.error as Error | undefined)?.message),
    failedPasses,
  };
}

describe('the reconciler with PostgreSQL unreachable', () => {
  it.each([
    ['gone silent (the connect times out)', silentPostgres, /timeout/i],
    ['closing every connection', closingEndpoint, /Connection terminated/],
  ])('%s: its failed passes are one outage, not one line a pass', async (_what, endpoint, reason) => {
    const { summary, firstError, failedPasses } = await failedPassesLogged(await endpoint());
    // One line when the outage began, one summing up the rest when the reconciler stopped.
    expect(summary).toEqual({ lines: 2, first: 1, total: failedPasses, otherLines: [] });
    expect(firstError).toMatch(reason);
  }, 120_000);
});
