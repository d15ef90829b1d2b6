/**
 * .env.example: STARTUP_WAIT_MS is "How long the start waits for PostgreSQL to accept connections, with a log line
 * per retry (0: fail at once)"; the chart derives its startup probe from it so that a longer wait is honoured.
 * `npm run migrate` (and the chart's migration Job, the same command) waits for PostgreSQL too.
 *
 * Found: services/migrate.ts hard-codes `waitForDatabaseMs: 60_000` and ignores STARTUP_WAIT_MS: with
 * STARTUP_WAIT_MS=0 and a mistyped host or port in DATABASE_URL, `npm run migrate` still retries for a full minute
 * ("gave up after 60 s"); with a larger STARTUP_WAIT_MS (a slow PostgreSQL), the migration gives up after 60 s anyway.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from '@jest/globals';
import { freePort, NO_DOTENV } from '../support/service-process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

beforeAll(() => {
  expect(spawnSync('bash', ['scripts/build-if-stale.sh'], { cwd: root, encoding: 'utf8' }).status).toBe(0);
}, 240_000);

it('npm run migrate with STARTUP_WAIT_MS=0 and PostgreSQL unreachable fails at once, as the start does', async () => {
  // A port nothing listens on: connection refused at once, every retry.
  const url = `postgresql://postgres@127.0.0.1:${await freePort()}/webhooks_migrate_wait`;
  const started = Date.now();
  const run = spawnSync('bash', ['scripts/node.sh', 'dist/services/migrate.js'], {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...NO_DOTENV, OTEL_SDK_DISABLED: 'true', DATABASE_URL: url, STARTUP_WAIT_MS: '0' },
    timeout: 100_000,
  });
  const seconds = (Date.now() - started) / 1000;
  const failure = run.stderr.split('\n').find((line) => line.startsWith('Migrations failed:'));
  expect(run.status).toBe(1);
  expect(failure).toContain('DATABASE_URL');
  expect({ seconds: Math.round(seconds), failure }).toEqual({ seconds: expect.any(Number), failure: expect.not.stringContaining('gave up after 60 s') });
  expect(seconds).toBeLessThan(20);
}, 120_000);
