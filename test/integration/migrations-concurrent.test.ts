import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { runMigrations } from '../../services/shared/database/run-migrations.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { dropDatabase } from '../support/test-database.js';
import { testServiceUrls } from '../support/test-services.js';

// Several processes that migrate at start (replicas of SERVICE_ROLE=all, a migration Job beside them) on a fresh
// database: one applies the migrations, the others wait for it and find nothing left; none crashes.

const name = `webhooks_test_migrate_${randomBytes(4).toString('hex')}`;
const url = new URL(testServiceUrls().databaseUrl);
url.pathname = `/${name}`;

afterAll(() => dropDatabase(name));

describe('migrations started at once by several processes', () => {
  it('all succeed; the migrations are applied once', async () => {
    const runs = await Promise.allSettled([1, 2, 3].map(() => runMigrations({ url: url.toString(), logger: createLogger('test-migrations') })));
    expect(runs.map((run) => (run.status === 'rejected' ? String(run.reason) : 'ok'))).toEqual(['ok', 'ok', 'ok']);
    const applied = runs.map((run) => (run as PromiseFulfilledResult<string[]>).value.length).sort((a, b) => b - a);
    expect(applied[0]).toBeGreaterThan(0);
    expect(applied.slice(1)).toEqual([0, 0]);
  });
});
