/**
 * What a start (or `npm run migrate`) says when PostgreSQL cannot be used: which PostgreSQL (host:port and the
 * database, from DATABASE_URL, never its credentials), what is wrong, and what fixes it. The driver's own errors
 * ("connect ECONNREFUSED 127.0.0.1:5432", "database "x" does not exist") name neither PostgreSQL nor DATABASE_URL.
 */
import type { WaitOut } from '../startup/wait-until-reachable.js';
import { isConnectionError } from './database-errors.js';

/** host:port and the database DATABASE_URL names (pg's defaults where it leaves them out). */
export function databaseTarget(url: string): { where: string; database: string } {
  try {
    const parsed = new URL(url);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres';
    return { where: `${parsed.hostname || 'localhost'}:${parsed.port || 5432}`, database };
  } catch {
    return { where: 'DATABASE_URL', database: '?' };
  }
}

/** PostgreSQL's 3D000 "database … does not exist", on the error or the driver's error TypeORM wraps. */
export function isMissingDatabase(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { code?: unknown }).code === '3D000') return true;
  const driverError = (error as { driverError?: unknown }).driverError;
  return driverError !== undefined && driverError !== error && isMissingDatabase(driverError);
}

/**
 * PostgreSQL refusing the credentials of DATABASE_URL: SQLSTATE class 28 (28P01 a wrong password, 28000 a role that
 * may not log in or no pg_hba entry), on the error or the driver's error TypeORM wraps.
 */
export function isCredentialsRefused(error: unknown): boolean {
  return sqlState(error)?.startsWith('28') === true;
}

/** The SQLSTATE on the error or on the driver's error TypeORM wraps. */
function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.length === 5) return code;
  const driverError = (error as { driverError?: unknown }).driverError;
  return driverError !== undefined && driverError !== error ? sqlState(driverError) : undefined;
}

/** `role "x"` for the role DATABASE_URL names (never its password), or '' when it names none. */
function roleOf(url: string): string {
  try {
    const user = decodeURIComponent(new URL(url).username);
    return user ? ` of role "${user}"` : '';
  } catch {
    return '';
  }
}

/**
 * The start waits out refused credentials within STARTUP_WAIT_MS, as it waits for an unreachable PostgreSQL: in
 * Kubernetes the Secret holding the password is often created or rotated just after the pods start (external-secrets,
 * a chart's password job). One warning for the whole wait, one line when they are accepted; past the deadline the
 * start fails with {@link databaseStartError}.
 */
export function databaseCredentialsWaitOut(url: string): WaitOut {
  const { where } = databaseTarget(url);
  return {
    matches: isCredentialsRefused,
    warning: (error) =>
      `PostgreSQL at ${where} (DATABASE_URL) refused the credentials${roleOf(url)} (${sqlState(error)}); ` +
      'waiting for them to be accepted, up to STARTUP_WAIT_MS (the Secret with the password may not be there yet)',
    accepted: 'PostgreSQL accepted the credentials; the start goes on',
  };
}

const MIGRATE_HINT = 'npm run migrate (or SERVICE_ROLE=all, or the chart\'s migration Job) creates it';

/** The warning for one retry while waiting for PostgreSQL. */
export function databaseRetryMessage(error: unknown, url: string): string {
  const { where, database } = databaseTarget(url);
  if (isMissingDatabase(error)) return `database "${database}" does not exist yet on PostgreSQL at ${where} (DATABASE_URL); waiting for it: ${MIGRATE_HINT}`;
  return `PostgreSQL at ${where} (DATABASE_URL) not reachable yet; retrying`;
}

/**
 * The error a start fails with once PostgreSQL could not be used: the driver's error, prefixed with where
 * DATABASE_URL points and, for the usual causes, what to do. The original is kept as the cause. `migrating`: the
 * migrations themselves could not create the missing database (the role may not create databases).
 */
export function databaseStartError(error: unknown, url: string, waitedMs: number, { migrating = false } = {}): Error {
  const { where, database } = databaseTarget(url);
  const message = (error as { message?: unknown } | null)?.message;
  const detail = typeof message === 'string' && message !== '' ? message : String(error);
  const waited = waitedMs > 0 ? ` (gave up after ${Math.round(waitedMs / 1000)} s)` : '';
  let text: string;
  if (isMissingDatabase(error)) {
    text = migrating
      ? `database "${database}" does not exist on PostgreSQL at ${where} (DATABASE_URL), and the role in DATABASE_URL may not create it: create it (CREATE DATABASE), or grant the role CREATEDB`
      : `database "${database}" does not exist on PostgreSQL at ${where} (DATABASE_URL)${waited}: ${MIGRATE_HINT}`;
  } else if (isCredentialsRefused(error)) {
    text = `PostgreSQL at ${where} (DATABASE_URL) refused the credentials${roleOf(url)}${waited}: ${detail}; set DATABASE_URL's password to the role's (percent-encoded)`;
  } else if (isConnectionError(error)) {
    text = `PostgreSQL is not reachable at ${where} (DATABASE_URL): ${detail}${waited}`;
  } else {
    text = `PostgreSQL at ${where} (DATABASE_URL): ${detail}`;
  }
  return new Error(text, { cause: error });
}
