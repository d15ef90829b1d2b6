import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { writeRoutesFile, type RoutesDocument, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A destination paused, then removed from ROUTES_FILE: its pause stays recorded on purpose (it applies again should
 * the destination come back under the same name). It used to be invisible (GET /admin/destinations lists what
 * ROUTES_FILE has) and impossible to clear (`…/resume` answered 404), so the destination, added back months later,
 * was silently paused. Now the list shows it under `removedPaused`, resume clears it, and a process starting with a
 * ROUTES_FILE that has a paused destination says so.
 */

const TOKEN = 'adm_removed_destination_pause_7c1d';
jest.setTimeout(180_000);

const both: RoutesDocument = {
  destinations: { billing: { url: 'http://127.0.0.1:9/billing' }, crm: { url: 'http://127.0.0.1:9/crm' } },
  routes: [{ provider: 'stripe', to: ['billing', 'crm'] }],
};
const billingOnly: RoutesDocument = { destinations: { billing: { url: 'http://127.0.0.1:9/billing' } }, routes: [{ provider: 'stripe', to: ['billing'] }] };

let db: TestDatabase;
let ns: TestQueueNamespace;
const files: TempRoutesFile[] = [];
let app: InProcessService | undefined;
let worker: ServiceProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
});

afterAll(async () => {
  await app?.stop();
  await worker?.kill();
  for (const file of files) file.remove();
  await ns?.cleanup();
  await db?.drop();
});

function routesPath(routes: RoutesDocument): string {
  const file = writeRoutesFile(routes);
  files.push(file);
  return file.path;
}

async function start(routes: RoutesDocument): Promise<InProcessService> {
  return startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: 'whsec_removed_destination_pause',
    ADMIN_API_TOKEN: TOKEN,
    ROUTES_FILE: routesPath(routes),
    POD_DELETION_COST_ENABLED: 'false',
  });
}

async function restart(routes: RoutesDocument): Promise<InProcessService> {
  await app?.stop();
  app = undefined;
  app = await start(routes);
  return app;
}

describe('a pause recorded for a destination no longer in ROUTES_FILE', () => {
  let pausedAt: string;

  it('is listed under removedPaused by GET /admin/destinations, the configured ones unchanged', async () => {
    await restart(both);
    expect((await adminRequest(app!.baseUrl, TOKEN, 'POST', '/admin/destinations/crm/pause')).status).toBe(200);
    const before = await adminRequest(app!.baseUrl, TOKEN, 'GET', '/admin/destinations');
    expect(before.status).toBe(200);
    pausedAt = before.json.items.find((item: { name: string }) => item.name === 'crm').state.pausedAt;
    expect(typeof pausedAt).toBe('string');
    // crm is configured: its pause is in its item, not a leftover.
    expect(before.json.removedPaused).toEqual([]);

    await restart(billingOnly);
    const after = await adminRequest(app!.baseUrl, TOKEN, 'GET', '/admin/destinations');
    expect(after.status).toBe(200);
    expect(after.json.items.map((item: { name: string }) => item.name)).toEqual(['billing']);
    expect(after.json.items[0].state).toMatchObject({ paused: false, pausedAt: null });
    expect(after.json.removedPaused).toEqual([{ name: 'crm', pausedAt }]);
    // Pausing a name ROUTES_FILE does not have stays a 404.
    expect((await adminRequest(app!.baseUrl, TOKEN, 'POST', '/admin/destinations/erp/pause')).status).toBe(404);
    expect((await adminRequest(app!.baseUrl, TOKEN, 'POST', '/admin/destinations/erp/resume')).status).toBe(404);
  });

  it('is named in a warning by a process that starts with a ROUTES_FILE that has the destination again', async () => {
    await app?.stop();
    app = undefined;
    worker = new ServiceProcess(
      { SERVICE_ROLE: 'worker', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, ROUTES_FILE: routesPath(both), POD_DELETION_COST_ENABLED: 'false' },
      await freePort(),
    );
    await worker.start();
    const warnings = () => worker!.jsonLogs().filter((line) => line.level === 'warn' && typeof line.message === 'string' && line.message.includes('paused'));
    await waitFor('the warning about crm', () => warnings().some((line) => line.destination === 'crm'), { timeoutMs: 30_000 });
    expect(warnings().find((line) => line.destination === 'crm')).toMatchObject({ pausedAt });
    // billing is not paused: nothing said about it.
    expect(warnings().filter((line) => line.destination === 'billing')).toEqual([]);
    worker.signal('SIGTERM');
    await worker.exited();
    worker = undefined;
  });

  it('is cleared by resume (200, as for a configured destination); then it is gone and resume is a 404 again', async () => {
    await restart(billingOnly);
    const resume = await adminRequest(app!.baseUrl, TOKEN, 'POST', '/admin/destinations/crm/resume');
    expect(resume.status).toBe(200);
    expect(resume.json).toMatchObject({ name: 'crm', paused: false, changed: true });
    expect((await adminRequest(app!.baseUrl, TOKEN, 'GET', '/admin/destinations')).json.removedPaused).toEqual([]);
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM destination_pauses WHERE destination = 'crm'`);
    expect(rows[0].n).toBe(0);
    expect((await adminRequest(app!.baseUrl, TOKEN, 'POST', '/admin/destinations/crm/resume')).status).toBe(404);

    // Added back: not paused.
    await restart(both);
    const back = await adminRequest(app!.baseUrl, TOKEN, 'GET', '/admin/destinations');
    expect(back.json.items.find((item: { name: string }) => item.name === 'crm').state).toMatchObject({ paused: false, pausedAt: null });
  });
});
