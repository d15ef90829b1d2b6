/**
 * A pg.Client whose connect() outlasts its connectionTimeoutMillis fails with the bare message "timeout expired" (no
 * code). The start's database check (ensure-database.ts) and the migrations' lock session use such clients. Taken for
 * a statement's fault, a PostgreSQL slow to accept a connection (a loaded node, a checkpoint) made the check assume
 * the database existed, and the migrations then stopped the start with `database "…" does not exist … grant the role
 * CREATEDB` instead of waiting; seen in CI on a loaded machine.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { isConnectionError, isDatabaseUnavailable } from '../../services/shared/database/database-errors.js';
import { runMigrations } from '../../services/shared/database/run-migrations.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { StartDeadline } from '../../services/shared/startup/start-deadline.js';
import { dropDatabase, withAdminClient } from '../support/test-database.js';
import { testServiceUrls } from '../support/test-services.js';

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
const databases: string[] = [];

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  for (const name of databases) await dropDatabase(name);
});

/**
 * A front for the test PostgreSQL that accepts the first `held` connections and never answers them (a server too
 * busy to accept), then passes every later one through.
 */
async function slowToAccept(held: number): Promise<{ port: number; connections: () => number }> {
  const target = new URL(testServiceUrls().databaseUrl);
  let connections = 0;
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    connections += 1;
    if (connections <= held) return;
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections };
}

describe('a connection PostgreSQL is slow to accept', () => {
  it('is a connection error (database unavailable), not a fault of a statement', async () => {
    const { port } = await slowToAccept(1);
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 200 });
    const error: unknown = await client.connect().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeDefined();
    expect((error as Error).message).toBe('timeout expired');
    expect(isConnectionError(error)).toBe(true);
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it('makes the migrations wait and try again (creating the missing database), not fail with "does not exist"', async () => {
    const front = await slowToAccept(1);
    const name = `webhooks_test_slow_accept_${randomBytes(4).toString('hex')}`;
    databases.push(name);
    const url = new URL(testServiceUrls().databaseUrl);
    url.host = `127.0.0.1:${front.port}`;
    url.pathname = `/${name}`;
    const applied = await runMigrations({ url: url.toString(), logger: createLogger('test-migrations'), deadline: new StartDeadline(60_000) });
    expect(applied.length).toBeGreaterThan(0);
    // The first connection (the database check's) was the one held; the retry created the database.
    expect(front.connections()).toBeGreaterThan(1);
    const found = await withAdminClient((admin) => admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]));
    expect(found.rowCount).toBe(1);
  }, 90_000);
});
