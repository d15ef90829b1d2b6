/**
 * A connect() the kernel refuses with EADDRNOTAVAIL ("Cannot assign requested address") is the network's failure, as
 * ENETUNREACH is: a DATABASE_URL or REDIS_URL naming `::1` (or `localhost` resolving to it first) on a host whose IPv6
 * is off, or an address this pod's network does not have yet. The start must wait for the dependency and a request
 * must get 503; the code was missing from the connection error codes, so the start was refused at once and a request
 * answered 500, and the worker logged every Redis reconnect as a "worker error" instead of one rate-limited line.
 *
 * Produced for real without touching the host's network: a socket bound to a local address this host does not have
 * (198.51.100.77, TEST-NET-2, on no host) fails its connect with EADDRNOTAVAIL, as the socket of `::1` with IPv6 off
 * does (both are the kernel finding no source address for the connection).
 */
import { describe, expect, it } from '@jest/globals';
import net from 'node:net';
import pg from 'pg';
import { isConnectionError, isDatabaseUnavailable } from '../../services/shared/database/database-errors.js';
import { healthFailureCategory } from '../../services/shared/health/health-failure-category.js';
import type { Logger } from '../../services/shared/logging/logger.js';
import { waitUntilReachable } from '../../services/shared/startup/wait-until-reachable.js';
import { isRedisConnectionError } from '../../services/shared/queue/redis-connection-error.js';
import { testServiceUrls } from '../support/test-services.js';

/** A local address no host has: a socket bound to it cannot connect anywhere. */
const UNASSIGNABLE_ADDRESS = '198.51.100.77';

/** A socket whose connect(port, host), as pg calls it, binds to {@link UNASSIGNABLE_ADDRESS} first. */
function unassignableSocket(): net.Socket {
  const socket = new net.Socket();
  const connect = socket.connect.bind(socket) as (options: net.TcpSocketConnectOpts) => net.Socket;
  (socket as unknown as { connect: (port: number, host: string) => net.Socket }).connect = (port, host) =>
    connect({ port, host, localAddress: UNASSIGNABLE_ADDRESS });
  return socket;
}

/** A pg.Client's connect to the test PostgreSQL from that socket, and the error it fails with. */
async function postgresConnectError(): Promise<unknown> {
  const client = new pg.Client({ connectionString: testServiceUrls().databaseUrl, connectionTimeoutMillis: 3000, stream: unassignableSocket });
  return client.connect().then(
    async () => {
      await client.end();
      return undefined;
    },
    (failure: unknown) => failure,
  );
}

function recordingLogger(warnings: string[]): Logger {
  const keep = (message: string) => void warnings.push(message);
  const drop = () => undefined;
  return { warn: keep, info: drop, debug: drop, error: drop } as unknown as Logger;
}

describe('a connect the kernel refuses with EADDRNOTAVAIL', () => {
  it('to PostgreSQL is a connection error (database unavailable: 503), not a fault of a statement', async () => {
    const error = await postgresConnectError();
    expect((error as { code?: unknown }).code).toBe('EADDRNOTAVAIL');
    expect(isConnectionError(error)).toBe(true);
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(healthFailureCategory(error)).toBe('unreachable');
  });

  it('makes the start wait for PostgreSQL (retried until its deadline), not refuse at once', async () => {
    const warnings: string[] = [];
    let tries = 0;
    // As the ingress's and the worker's start reach PostgreSQL (infrastructure.ts): retried while isDatabaseUnavailable.
    const error: unknown = await waitUntilReachable(
      async () => {
        tries++;
        throw await postgresConnectError();
      },
      { what: 'database', budgetMs: 1500, logger: recordingLogger(warnings), isRetryable: isDatabaseUnavailable },
    ).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect((error as { code?: unknown }).code).toBe('EADDRNOTAVAIL');
    expect(tries).toBeGreaterThanOrEqual(2);
    expect(warnings).toContain('database not reachable yet; retrying');
  }, 60_000);

  it('to Redis is a connection error of the worker (one rate-limited line), and "unreachable" on the health endpoints', async () => {
    // ioredis hands its socket's error to its 'error' listeners as it is; its connector passes no localAddress, so the
    // same connect is made here with Node's own socket.
    const error = await new Promise<Error>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: 6379, localAddress: UNASSIGNABLE_ADDRESS });
      socket.once('connect', () => {
        socket.destroy();
        reject(new Error('connected from an address this host should not have'));
      });
      socket.once('error', resolve);
    });
    expect((error as NodeJS.ErrnoException).code).toBe('EADDRNOTAVAIL');
    expect(isRedisConnectionError(error)).toBe(true);
    expect(healthFailureCategory(error)).toBe('unreachable');
  });
});
