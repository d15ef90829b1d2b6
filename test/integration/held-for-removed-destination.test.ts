import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type RoutesDocument, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * An operator pauses a destination, events wait for it (PENDING, `waiting: crm paused`), then the destination is
 * removed from ROUTES_FILE and the service rolled out. Nobody may resume it (its pause is left over, listed under
 * `removedPaused`, and may never be cleared), and the waiting events' jobs are delayed for the paused recheck
 * (5 minutes): the events, which now go to billing alone (which has them already), sat PENDING that long. A worker that starts sends the events
 * waiting for destinations it does not have on at once: they complete.
 */

const TOKEN = 'adm_held_removed_destination_2b7e';
const STRIPE_SECRET = 'whsec_held_removed_destination';
jest.setTimeout(120_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
const files: TempRoutesFile[] = [];
let app: InProcessService | undefined;
const sink = new HttpSink();

beforeAll(async () => {
  [db] = await Promise.all([createTestDatabase(), sink.start()]);
  ns = createQueueNamespace();
});

afterAll(async () => {
  await app?.stop();
  await sink.stop();
  for (const file of files) file.remove();
  await ns?.cleanup();
  await db?.drop();
});

async function start(routes: RoutesDocument): Promise<InProcessService> {
  const file = writeRoutesFile(routes);
  files.push(file);
  return startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ADMIN_API_TOKEN: TOKEN,
    ROUTES_FILE: file.path,
    POD_DELETION_COST_ENABLED: 'false',
  });
}

describe('events waiting for a paused destination that is then removed from ROUTES_FILE', () => {
  it('complete once a worker without that destination starts, without waiting out the paused recheck', async () => {
    app = await start({
      destinations: { billing: { url: `${sink.url}/billing` }, crm: { url: `${sink.url}/crm` } },
      routes: [{ provider: 'stripe', to: ['billing', 'crm'] }],
    });
    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/crm/pause')).status).toBe(200);
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const body = JSON.stringify({ id: `evt_held_removed_${n}`, object: 'event', type: 'invoice.paid', data: { object: {} } });
      const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
      expect(response.status).toBe(202);
      ids.push(String(response.json!.id));
    }
    await waitFor('the events waiting for crm', async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE id = ANY($1) AND status = 'PENDING' AND held_for = '{crm}'`, [ids]);
      return rows[0].n === ids.length;
    }, { timeoutMs: 30_000 });
    expect(sink.requests.filter((request) => request.path === '/billing')).toHaveLength(3);
    await app.stop();
    app = undefined;

    // crm is gone from ROUTES_FILE; its pause stays recorded (listed, not cleared here: the worker alone sends them on).
    app = await start({ destinations: { billing: { url: `${sink.url}/billing` } }, routes: [{ provider: 'stripe', to: ['billing'] }] });
    expect((await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/destinations')).json.removedPaused).toEqual([{ name: 'crm', pausedAt: expect.any(String) }]);
    // Far less than the paused recheck (PAUSED_RECHECK_MS, 5 minutes, less a tenth at random).
    await waitFor('the events COMPLETED', async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE id = ANY($1) AND status = 'COMPLETED' AND held_for IS NULL`, [ids]);
      return rows[0].n === ids.length;
    }, { timeoutMs: 60_000 });
    // billing had them already: not sent again; crm was never sent them.
    expect(sink.requests.filter((request) => request.path === '/billing')).toHaveLength(3);
    expect(sink.requests.filter((request) => request.path === '/crm')).toHaveLength(0);
  });
});
