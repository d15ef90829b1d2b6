/**
 * The service reads `.env` from where it runs, and the tests start services in the repository: a developer's own
 * `.env` (a token, another database, LOG_LEVEL=debug) used to leak into every service a test started. Those
 * processes now run with DOTENV_CONFIG_PATH=/dev/null (test/support/service-process.ts NO_DOTENV), which the service
 * honours: DOTENV_CONFIG_PATH names the file it reads instead of `./.env`, `/dev/null` none.
 *
 * The leak is shown with the repository's own `.env`, written here only when there is none (and removed after):
 * an ADMIN_API_TOKEN in it would open the admin API of a test's service that configured none.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const repoDotenv = path.join(root, '.env');
let db: TestDatabase;
let ns: TestQueueNamespace;
const started: ServiceProcess[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  [db, ns] = await Promise.all([createTestDatabase(), Promise.resolve(createQueueNamespace())]);
});

afterAll(async () => {
  for (const service of started) await service.kill();
  for (const cleanup of cleanups) cleanup();
  await ns?.cleanup();
  await db?.drop();
});

/** An ingress with no ADMIN_API_TOKEN of its own, `env` added; the admin API's answer to `token`. */
async function adminStatusWith(token: string, env: Record<string, string | undefined> = {}): Promise<number> {
  const service = new ServiceProcess({ SERVICE_ROLE: 'ingress', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, ...env }, await freePort());
  started.push(service);
  await service.start();
  const response = await fetch(`${service.baseUrl}/admin/events`, { headers: { authorization: `Bearer ${token}` } });
  await service.kill();
  return response.status;
}

/** A `.env`-format file in a directory of its own. */
function envFile(content: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dotenv-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'service.env');
  writeFileSync(file, content);
  return file;
}

describe('.env and the tests', () => {
  // A developer's own .env is never touched: the repository test needs there to be none.
  const ownDotenv = !existsSync(repoDotenv);
  (ownDotenv ? it : it.skip)("a test's service does not read the repository's .env; a service run without DOTENV_CONFIG_PATH does", async () => {
    const token = `dotenv-leak-${randomBytes(8).toString('hex')}`;
    writeFileSync(repoDotenv, `# written by test/process/dotenv-isolation.test.ts for a few seconds; delete it if it outlived the test\nADMIN_API_TOKEN=${token}\n`, { flag: 'wx' });
    cleanups.push(() => existsSync(repoDotenv) && unlinkSync(repoDotenv));
    try {
      // Without a token configured the admin API refuses everything (403).
      expect(await adminStatusWith(token)).toBe(403);
      // What `npm start` in the repository does: ./.env is read.
      expect(await adminStatusWith(token, { DOTENV_CONFIG_PATH: undefined })).toBe(200);
    } finally {
      unlinkSync(repoDotenv);
    }
  }, 120_000);

  it('DOTENV_CONFIG_PATH names the file the service reads instead of ./.env; real environment variables still win', async () => {
    const token = `dotenv-file-${randomBytes(8).toString('hex')}`;
    const file = envFile(`ADMIN_API_TOKEN=${token}\n`);
    expect(await adminStatusWith(token, { DOTENV_CONFIG_PATH: file })).toBe(200);
    expect(await adminStatusWith(token, { DOTENV_CONFIG_PATH: file, ADMIN_API_TOKEN: 'the-environment-wins-0123' })).toBe(401);
  }, 120_000);
});
