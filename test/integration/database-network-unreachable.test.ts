/**
 * A connect() to PostgreSQL over a network the host has no route to fails with ENETUNREACH ("connect ENETUNREACH
 * …"): a pod whose network is not set up yet or lost its route, a dual-stack name whose IPv6 address this host cannot
 * reach (Node tries each address and reports the first one's code on the AggregateError). It is the network's
 * failure, as EHOSTUNREACH is: the start must wait for PostgreSQL and a request must get 503, not a start refused at
 * once and a 500. It was missing from the connection error codes.
 *
 * Linux (and Node on it) refuses a TCP connect to a multicast address with ENETUNREACH before sending anything: a
 * real socket error of that shape on any machine, whatever its routes.
 */
import { describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { isConnectionError, isDatabaseUnavailable } from '../../services/shared/database/database-errors.js';
import { runMigrations } from '../../services/shared/database/run-migrations.js';
import type { Logger } from '../../services/shared/logging/logger.js';
import { StartDeadline } from '../../services/shared/startup/start-deadline.js';

/** An address no TCP connection can be made to: the kernel answers ENETUNREACH at once. */
const UNREACHABLE_URL = 'postgres://postgres@224.0.0.1:5432/webhooks_unreachable';

/** A logger that keeps the warnings (the start's retry lines) and drops the rest. */
function recordingLogger(warnings: string[]): Logger {
  const keep = (message: string) => void warnings.push(message);
  const drop = () => undefined;
  return { warn: keep, info: drop, debug: drop, error: drop } as unknown as Logger;
}

describe('PostgreSQL on a network this host cannot reach (ENETUNREACH)', () => {
  it('is a connection error (database unavailable), not a fault of a statement', async () => {
    const client = new pg.Client({ connectionString: UNREACHABLE_URL, connectionTimeoutMillis: 3000 });
    const error: unknown = await client.connect().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect((error as { code?: unknown }).code).toBe('ENETUNREACH');
    expect(isConnectionError(error)).toBe(true);
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it('makes the start wait for PostgreSQL (retrying until its deadline), not refuse at once', async () => {
    const warnings: string[] = [];
    const error: unknown = await runMigrations({ url: UNREACHABLE_URL, logger: recordingLogger(warnings), deadline: new StartDeadline(2500) }).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect((error as Error).message).toMatch(/^PostgreSQL is not reachable at 224\.0\.0\.1:5432 \(DATABASE_URL\): connect ENETUNREACH/);
    expect(warnings).toContain('PostgreSQL at 224.0.0.1:5432 (DATABASE_URL) not reachable yet; retrying');
  }, 60_000);
});
