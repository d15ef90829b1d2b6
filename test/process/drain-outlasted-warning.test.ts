/**
 * SHUTDOWN_TIMEOUT_MS not longer than a destination's delivery timeout (its `timeoutMs`, else DELIVERY_TIMEOUT_MS)
 * is a pair each half of which is fine, and the start took it silently: a delivery that long in flight at SIGTERM is
 * cut off by the drain's forced exit and sent again by another worker. The worker now says so once at start, naming
 * the destinations whose timeout outlasts the drain; a destination within it is not named.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

let db: TestDatabase;
let ns: TestQueueNamespace;
let routes: TempRoutesFile;
let service: ServiceProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  routes = writeRoutesFile({
    destinations: {
      slow: { url: 'http://slow.internal/hooks', timeoutMs: 60_000 },
      defaulted: { url: 'http://defaulted.internal/hooks' },
      quick: { url: 'http://quick.internal/hooks', timeoutMs: 2000 },
    },
    routes: [{ provider: 'stripe', to: ['slow', 'defaulted', 'quick'] }],
  });
});

afterAll(async () => {
  await service?.kill();
  routes?.remove();
  await ns?.cleanup();
  await db?.drop();
});

it('the worker warns at start, naming the destinations whose delivery timeout outlasts SHUTDOWN_TIMEOUT_MS', async () => {
  service = new ServiceProcess(
    {
      SERVICE_ROLE: 'worker',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      ROUTES_FILE: routes.path,
      SHUTDOWN_TIMEOUT_MS: '10000',
      DELIVERY_TIMEOUT_MS: '10000',
      POD_DELETION_COST_ENABLED: 'false',
    },
    await freePort(),
  );
  await service.start();
  const warnings = () => service!.jsonLogs().filter((line) => line.level === 'warn' && String(line.message).startsWith('a delivery may outlast the drain'));
  await waitFor('the warning', () => warnings().length > 0, { timeoutMs: 30_000 });
  expect(warnings()).toEqual([
    expect.objectContaining({ shutdownTimeoutMs: 10_000, deliveryTimeoutMs: 10_000, destinations: { slow: 60_000, defaulted: 10_000 } }),
  ]);
  expect(String(warnings()[0]!.message)).toContain('give SHUTDOWN_TIMEOUT_MS more than the longest delivery timeout');
});
