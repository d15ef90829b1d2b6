/**
 * .env.example: STARTUP_WAIT_MS is "How long the start waits for PostgreSQL to accept connections, with a log line
 * per retry (0: fail at once)"; the chart derives its startup probe from it so that a longer wait is honoured.
 * `npm run migrate` (and the chart's migration Job, the same command) waits for PostgreSQL too.
 *
 * Found: services/migrate.ts hard-codes `waitForDatabaseMs: 60_000` and ignores STARTUP_WAIT_MS: with
 * STARTUP_WAIT_MS=0 and a mistyped host or port in DATABASE_URL, `npm run migrate` still retries for a full minute
 * ("gave up after 60 s"); with a larger STARTUP_WAIT_MS (a slow PostgreSQL), the migration gives up after 60 s anyway.
 */
import { beforeAll, expect, it } from '@jest/globals';
import { buildServiceOnce, MigrateProcess } from '../support/migrate-process.js';
import { freePort } from '../support/service-process.js';

beforeAll(buildServiceOnce, 240_000);

it('npm run migrate with STARTUP_WAIT_MS=0 and PostgreSQL unreachable fails at once, as the start does', async () => {
  // A port nothing listens on: connection refused at once, every retry.
  const url = `postgresql://postgres@127.0.0.1:${await freePort()}/webhooks_migrate_wait`;
  const started = Date.now();
  const run = new MigrateProcess(url, { STARTUP_WAIT_MS: '0' });
  const killer = setTimeout(() => run.kill('SIGKILL'), 100_000);
  const status = await run.exited;
  clearTimeout(killer);
  const seconds = (Date.now() - started) / 1000;
  const failure = run.failures()[0];
  expect(status).toBe(1);
  expect(failure).toContain('DATABASE_URL');
  expect({ seconds: Math.round(seconds), failure }).toEqual({ seconds: expect.any(Number), failure: expect.not.stringContaining('gave up after 60 s') });
  // At once: not one retry (the wait logs each), and well before the 60 s the hard-coded wait took. A bound of 20 s
  // was a speed figure for a process start, which a loaded machine can stretch; the retries show the wait itself.
  expect(`${run.output.stdout}${run.output.stderr}`).not.toContain('not reachable yet; retrying');
  expect(seconds).toBeLessThan(60);
}, 120_000);
