import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

/**
 * PostgreSQL (`destination_pauses`) is the record of pauses; Redis holds the copy workers read, written again by a
 * worker that finds none. After Redis lost its data (a restart without persistence, a failover to an empty replica),
 * GET /admin/destinations read the pause from Redis's (now empty) set and said `paused: false` for a destination
 * PostgreSQL records as paused, until a worker copied the pauses back: never, with the workers scaled to zero (KEDA,
 * an empty queue). The console then offered "Pause" for a paused destination. Here the ingress runs alone (no worker,
 * so no resync) and the namespace's Redis keys are deleted under it.
 */

const TOKEN = 'adm_pause_redis_lost_4f1b_0123456789abcdef';
jest.setTimeout(120_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let routesFile: TempRoutesFile;
let ingress: ServiceProcess | undefined;

const stateOf = async (name: string) => {
  const { status, json } = await adminRequest(ingress!.baseUrl, TOKEN, 'GET', '/admin/destinations');
  expect(status).toBe(200);
  return json.items.find((item: { name: string }) => item.name === name).state as { paused: boolean; pausedAt: string | null; unavailable?: true };
};

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  routesFile = writeRoutesFile({
    destinations: { billing: { url: 'http://127.0.0.1:9/billing' }, crm: { url: 'http://127.0.0.1:9/crm' } },
    routes: [{ provider: 'stripe', to: ['billing', 'crm'] }],
  });
  ingress = new ServiceProcess(
    {
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      ADMIN_API_TOKEN: TOKEN,
      ROUTES_FILE: routesFile.path,
      POD_DELETION_COST_ENABLED: 'false',
    },
    await freePort(),
  );
  await ingress.start();
});

afterAll(async () => {
  await ingress?.kill();
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

describe('GET /admin/destinations after Redis lost its copy of the pauses', () => {
  it('still shows a destination PostgreSQL records as paused as paused', async () => {
    expect((await adminRequest(ingress!.baseUrl, TOKEN, 'POST', '/admin/destinations/crm/pause')).status).toBe(200);
    const before = await stateOf('crm');
    expect(before.paused).toBe(true);

    // Redis loses everything under the queue's prefix (the paused set and its version included); PostgreSQL keeps
    // the pause, and no worker runs to copy it back.
    await ns.cleanup();
    const recorded = await db.pool.query('SELECT destination FROM destination_pauses');
    expect(recorded.rows).toEqual([{ destination: 'crm' }]);

    const after = await stateOf('crm');
    // Redis answers (its data is gone, not the server), so this is not the `unavailable` reading.
    expect(after.unavailable).toBeUndefined();
    // Fails without the fix: { paused: false, pausedAt: <the pause's time> }.
    expect({ paused: after.paused, pausedAt: after.pausedAt }).toEqual({ paused: true, pausedAt: before.pausedAt });
    // The destination never paused stays not paused.
    expect((await stateOf('billing')).paused).toBe(false);
  });
});
