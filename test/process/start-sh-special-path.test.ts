/**
 * scripts/start.sh runs from wherever the repository was cloned, and a directory name may hold a `#` or a `%`
 * (/srv/app#2, /opt/100%). Found: the script passed the instrumentation preload to node's `--import` as a bare path,
 * which node reads as a URL: the `#` began a fragment and the `%` an escape, and every start failed with
 * ERR_MODULE_NOT_FOUND ("Cannot find module '/tmp/…'"), before the service ran a line.
 */
import { cpSync, mkdtempSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { buildServiceOnce } from '../support/migrate-process.js';
import { freePort } from '../support/service-process.js';
import { StartShProcess } from '../support/start-sh-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const copy = mkdtempSync(path.join(tmpdir(), 'start-sh-a#b%c-'));
let db: TestDatabase;
let ns: TestQueueNamespace;
let child: StartShProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  buildServiceOnce();
  // The repository as a clone at that path would hold it, built (the build stamp is touched last, so that start.sh
  // finds nothing newer and compiles nothing); the installed packages and tools are shared.
  for (const entry of ['scripts', 'dist', 'services', 'console', 'package.json', 'package-lock.json', 'tsconfig.json']) {
    cpSync(path.join(root, entry), path.join(copy, entry), { recursive: true });
  }
  // A few seconds ahead: utimes takes milliseconds, and a file copied within the same millisecond as `new Date()`
  // could read newer than a stamp set to it (find -newer compares nanoseconds), and start.sh then compiled, which on
  // a loaded machine outlasted the wait below.
  const ahead = new Date(Date.now() + 5000);
  utimesSync(path.join(copy, 'dist/.build-stamp'), ahead, ahead);
  for (const entry of ['node_modules', '.tools']) symlinkSync(path.join(root, entry), path.join(copy, entry));
}, 240_000);

afterAll(async () => {
  await child?.kill();
  rmSync(copy, { recursive: true, force: true });
  await ns?.cleanup();
  await db?.drop();
});

it("scripts/start.sh in a repository whose path holds '#' and '%' starts the service", async () => {
  const port = await freePort();
  child = new StartShProcess(path.join(copy, 'scripts/start.sh'), 'ingress', {
    cwd: copy,
    db,
    ns,
    env: { HOST: '127.0.0.1', PORT: String(port), STRIPE_WEBHOOK_SECRET: 'whsec_special_path' },
  });
  const live = async () => (await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => undefined))?.status === 200;
  await waitFor('the ingress to answer or its start to fail', async () => child!.exitCode !== null || (await live()), { timeoutMs: 90_000 }).catch(
    (error: unknown) => {
      throw new Error(`${(error as Error).message}; start.sh printed:\n${child!.output}`);
    },
  );
  // The copy is built: start.sh compiles nothing.
  expect(child.output).not.toContain('build-if-stale: sources changed');
  expect({ exitCode: child.exitCode, error: /Error \[\w+\]: .*|Failed to start: .*/.exec(child.output)?.[0] ?? null, live: await live() }).toEqual({
    exitCode: null,
    error: null,
    live: true,
  });
}, 120_000);
