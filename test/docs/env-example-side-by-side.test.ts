/**
 * .env.example says: "Every variable the service reads, with its default. Copy to .env". The README's Commands table
 * says `npm run start:ingress` / `npm run start:worker` run side by side on one machine, "the worker takes port 3001
 * unless PORT is set". A newcomer who does both (copies .env.example to .env, as it tells them, then runs the two
 * commands) must still get the worker on 3001: copying the file of defaults should change nothing.
 *
 * Found: .env.example sets PORT=3000, which scripts/start.sh reads from .env as "PORT is set", so the worker also
 * takes 3000 and, next to the ingress, stops with "port 3000 … is already in use (PORT)".
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let db: TestDatabase;
let ns: TestQueueNamespace;
let child: ChildProcess | undefined;
const dir = mkdtempSync(path.join(tmpdir(), 'env-example-'));

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  expect(spawnSync('bash', ['scripts/build-if-stale.sh'], { cwd: root, encoding: 'utf8' }).status).toBe(0);
}, 240_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    process.kill(-child.pid!, 'SIGKILL');
    await once(child, 'exit');
  }
  rmSync(dir, { recursive: true, force: true });
  await ns?.cleanup();
  await db?.drop();
});

it('with .env copied from .env.example, npm run start:worker still takes port 3001', async () => {
  // DOTENV_CONFIG_PATH stands in for ./.env (tests never write the repository's own); the copy is verbatim.
  const dotenv = path.join(dir, '.env');
  copyFileSync(path.join(root, '.env.example'), dotenv);
  child = spawn('npm', ['run', 'start:worker'], {
    cwd: root,
    detached: true,
    // Only where the test's own database and queue are: real environment variables win over the .env file.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DOTENV_CONFIG_PATH: dotenv, OTEL_SDK_DISABLED: 'true', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor('the worker to start or to fail', async () => output.includes('"message":"service started"') || output.includes('Failed to start') || child!.exitCode !== null, {
    timeoutMs: 90_000,
  });
  const started = output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { message?: string; port?: number })
    .find((line) => line.message === 'service started');
  expect({ port: started?.port ?? null, failure: /Failed to start: .*/.exec(output)?.[0] ?? null }).toEqual({ port: 3001, failure: null });
}, 120_000);
