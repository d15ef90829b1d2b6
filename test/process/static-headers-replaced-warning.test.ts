/**
 * A destination's static header named like one the delivery sets itself (`User-Agent`, `Content-Type`, `webhook-*`,
 * `x-webhook-*`) is left out of every delivery (README), but nothing said so: an operator who set a `User-Agent` for
 * a receiver's allow-list found out only from the receiver. The worker now says once at start, naming the destination
 * and the headers; the other static headers are sent as before.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpSink } from '../support/http-sink.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

let db: TestDatabase;
let ns: TestQueueNamespace;
let dir: string;
let service: ServiceProcess | undefined;
const sink = new HttpSink();

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await sink.start();
  dir = mkdtempSync(join(tmpdir(), 'static-headers-replaced-'));
});

afterAll(async () => {
  await service?.kill();
  await sink.stop();
  rmSync(dir, { recursive: true, force: true });
  await ns?.cleanup();
  await db?.drop();
});

it('the worker names, at start, the static headers no delivery sends', async () => {
  const path = join(dir, 'routes.yaml');
  writeFileSync(
    path,
    [
      'destinations:',
      '  billing:',
      `    url: ${sink.url}/in`,
      '    headers: { User-Agent: billing-allowlisted/1.0, X-Team: billing, Webhook-Id: fixed }',
      '  plain:',
      `    url: ${sink.url}/plain`,
      '    headers: { X-Team: plain }',
      'routes:',
      '  - provider: stripe',
      '    to: [billing, plain]',
      '',
    ].join('\n'),
  );
  service = new ServiceProcess({ SERVICE_ROLE: 'worker', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, ROUTES_FILE: path, POD_DELETION_COST_ENABLED: 'false' }, await freePort());
  await service.start();
  const warnings = () =>
    service!.logs
      .filter((line) => line.includes('static headers a delivery sets itself'))
      .map((line) => JSON.parse(line) as { level: string; destination: string; headers: string[] });
  await waitFor('the warning', async () => warnings().length > 0, { timeoutMs: 10_000 });
  expect(warnings()).toEqual([expect.objectContaining({ level: 'warn', destination: 'billing', headers: ['User-Agent', 'Webhook-Id'] })]);
}, 90_000);
