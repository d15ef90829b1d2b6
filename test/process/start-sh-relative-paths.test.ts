/**
 * README (Commands): `scripts/start.sh [all|ingress|worker]` is "the command for process managers" (systemd,
 * supervisord), which start it from a working directory of their own (systemd's WorkingDirectory=) holding the
 * configuration: ROUTES_FILE=./routes.yaml, as relative paths are usually written.
 *
 * Found: start.sh does `cd` into the repository before it execs node, so a relative ROUTES_FILE (or PROVIDERS_FILE,
 * or DOTENV_CONFIG_PATH) is read from the repository, not from where the operator started it. The file is right there,
 * yet the start stops with `Failed to start: ROUTES_FILE ./routes.yaml: cannot read: ENOENT`, naming the path as
 * given and not the directory it was looked for in.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
const configDir = mkdtempSync(path.join(tmpdir(), 'start-sh-cwd-'));
let db: TestDatabase;
let ns: TestQueueNamespace;
let child: StartShProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  buildServiceOnce();
}, 240_000);

afterAll(async () => {
  await child?.kill();
  rmSync(configDir, { recursive: true, force: true });
  await ns?.cleanup();
  await db?.drop();
});

it('scripts/start.sh started from the configuration directory reads ROUTES_FILE=./routes.yaml from there', async () => {
  writeFileSync(
    path.join(configDir, 'routes.yaml'),
    'destinations:\n  billing:\n    url: http://127.0.0.1:9/hooks\nroutes:\n  - provider: stripe\n    to: [billing]\n',
  );
  const port = await freePort();
  child = new StartShProcess(path.join(root, 'scripts/start.sh'), 'worker', { cwd: configDir, db, ns, env: { PORT: String(port), ROUTES_FILE: './routes.yaml' } });
  const started = () => child!.output.includes('"message":"service started"');
  await waitFor('the worker to start or to fail', async () => started() || child!.exitCode !== null, { timeoutMs: 90_000 });
  expect({ started: started(), failure: /Failed to start: .*/.exec(child.output)?.[0] ?? null }).toEqual({ started: true, failure: null });
}, 120_000);
