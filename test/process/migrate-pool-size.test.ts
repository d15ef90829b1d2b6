/**
 * `npm run migrate` opens no pool of DATABASE_POOL_SIZE (the migrations use a data source of their own), so the floor
 * that a worker's pool needs (at least 3, refused for SERVICE_ROLE=worker and all) is no reason to refuse it. It read
 * the roles' configuration with SERVICE_ROLE unset, i.e. `all`, and exited 78 ("must be at least 3 for
 * SERVICE_ROLE=all") whenever the shared configuration set a smaller pool: the chart's migration Job takes the
 * chart's `config` (with `migrations.config`), where a small pool for the many ingress pods, and a larger one under
 * `worker.config`, is a valid setup; the hook Job then failed and the upgrade with it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { buildServiceOnce, MigrateProcess } from '../support/migrate-process.js';
import { dropDatabase } from '../support/test-database.js';
import { testServiceUrls } from '../support/test-services.js';

const name = `webhooks_migrate_pool_${process.pid}_${randomBytes(4).toString('hex')}`;

beforeAll(buildServiceOnce, 240_000);
afterAll(() => dropDatabase(name));

it('npm run migrate with DATABASE_POOL_SIZE=2 (SERVICE_ROLE unset) applies the migrations', async () => {
  const url = new URL(testServiceUrls().databaseUrl);
  url.pathname = `/${name}`;
  const run = new MigrateProcess(url.toString(), { DATABASE_POOL_SIZE: '2' });
  const killer = setTimeout(() => run.kill('SIGKILL'), 100_000);
  const status = await run.exited;
  clearTimeout(killer);
  expect({ status, stderr: run.output.stderr.trim() }).toEqual({ status: 0, stderr: '' });
}, 120_000);
