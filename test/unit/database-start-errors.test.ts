/**
 * What a start says when PostgreSQL cannot be used: which PostgreSQL (DATABASE_URL's host:port and database, never
 * its credentials), what is wrong and what fixes it, instead of the driver's bare "connect ECONNREFUSED …".
 */
import { describe, expect, it } from '@jest/globals';
import { databaseCredentialsWaitOut, databaseRetryMessage, databaseStartError } from '../../services/shared/database/database-start-errors.js';

const url = 'postgresql://app:s3cret-pw@db.internal:6543/webhooks';
const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:6543'), { code: 'ECONNREFUSED' });
const missing = Object.assign(new Error('database "webhooks" does not exist'), { code: '3D000' });

describe('database start errors', () => {
  it('a retry names PostgreSQL and DATABASE_URL, and a missing database as missing, with what creates it', () => {
    expect(databaseRetryMessage(refused, url)).toBe('PostgreSQL at db.internal:6543 (DATABASE_URL) not reachable yet; retrying');
    expect(databaseRetryMessage({ driverError: missing }, url)).toBe(
      `database "webhooks" does not exist yet on PostgreSQL at db.internal:6543 (DATABASE_URL); waiting for it: npm run migrate (or SERVICE_ROLE=all, or the chart's migration Job) creates it`,
    );
  });

  it('the error a start fails with: where, what, how long it waited; the driver error kept as the cause', () => {
    const error = databaseStartError(refused, url, 120_000);
    expect(error.message).toBe('PostgreSQL is not reachable at db.internal:6543 (DATABASE_URL): connect ECONNREFUSED 10.0.0.5:6543 (gave up after 120 s)');
    expect(error.cause).toBe(refused);
    expect(databaseStartError(missing, url, 60_000, { migrating: true }).message).toBe(
      'database "webhooks" does not exist on PostgreSQL at db.internal:6543 (DATABASE_URL), and the role in DATABASE_URL may not create it: create it (CREATE DATABASE), or grant the role CREATEDB',
    );
    const denied = Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' });
    // Refused credentials are waited out within STARTUP_WAIT_MS (database-credentials-refused-start.test.ts): the line says for how long.
    expect(databaseStartError(denied, url, 120_000).message).toBe(
      'PostgreSQL at db.internal:6543 (DATABASE_URL) refused the credentials of role "app" (gave up after 120 s): password authentication failed for user "app"; ' +
        "set DATABASE_URL's password to the role's (percent-encoded)",
    );
    for (const made of [databaseStartError(refused, url, 0), databaseStartError(missing, url, 0)]) expect(made.message).not.toContain('s3cret-pw');
  });

  it('refused credentials (SQLSTATE class 28, on the error or the driver error TypeORM wraps) are waited out with a warning naming the role, never the password', () => {
    const waitOut = databaseCredentialsWaitOut(url);
    const denied = Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' });
    const noLogin = Object.assign(new Error('role "app" is not permitted to log in'), { code: '28000' });
    expect([denied, { driverError: noLogin }, refused, missing].map((error) => waitOut.matches(error))).toEqual([true, true, false, false]);
    expect(waitOut.warning(denied)).toBe(
      'PostgreSQL at db.internal:6543 (DATABASE_URL) refused the credentials of role "app" (28P01); waiting for them to be accepted, up to STARTUP_WAIT_MS (the Secret with the password may not be there yet)',
    );
    expect(waitOut.warning({ driverError: noLogin })).toContain('(28000)');
  });
});
