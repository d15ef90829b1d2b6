import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

/**
 * Incoming-webhook services put their credential in the URL's path (Slack's `/services/T…/B…/<token>`, Discord's
 * `/api/webhooks/<id>/<token>`): whoever has the URL can post to the channel. The admin API shows where each
 * destination is (`target`, in GET /admin/destinations and in an event's routing), and the console shows it on
 * screen; the credential must not be in it, as the URL's password and credential-like query values are not, and as
 * the same segments are redacted from every log line and error text.
 */

const TOKEN = 'adm_target_secrets_8b2e4c';
const SECRET = 'whsec_target_secrets';
const SLACK_TOKEN = 'aB3dE5fG7hJ9kL1mN3pQ5rS7';
const DISCORD_TOKEN = 'Xy9_Wv8-Ut7Sr6Qp5On4Ml3Kj2Ih1Gf0Ed';

let db: TestDatabase;
let ns: TestQueueNamespace;
let routesFile: TempRoutesFile;
let app: InProcessService;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  routesFile = writeRoutesFile({
    destinations: {
      // Never contacted: the service runs as the ingress only.
      slack: { url: `https://hooks.slack.example/services/T0AB12CD3/B0EF45GH6/${SLACK_TOKEN}` },
      discord: { url: `https://discord.example/api/webhooks/112233445566778899/${DISCORD_TOKEN}` },
      plain: { url: 'https://orders.internal/v1/orders-received' },
    },
    routes: [{ provider: 'stripe', to: ['slack', 'discord', 'plain'] }],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'ingress',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: SECRET,
    ROUTES_FILE: routesFile.path,
    ADMIN_API_TOKEN: TOKEN,
  });
});

afterAll(async () => {
  await app?.stop();
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

const EXPECTED_TARGETS = {
  slack: 'https://hooks.slack.example/services/T0AB12CD3/B0EF45GH6/[REDACTED]',
  discord: 'https://discord.example/api/webhooks/112233445566778899/[REDACTED]',
  plain: 'https://orders.internal/v1/orders-received',
};

describe('where a destination is, as the admin API shows it', () => {
  it('GET /admin/destinations leaves out a credential in the URL path', async () => {
    const response = await adminRequest(app.baseUrl, TOKEN, 'GET', '/admin/destinations');
    expect(response.status).toBe(200);
    const targets = Object.fromEntries((response.json!.items as { name: string; target: string | null }[]).map((item) => [item.name, item.target]));
    expect(JSON.stringify(response.json)).not.toContain(SLACK_TOKEN);
    expect(JSON.stringify(response.json)).not.toContain(DISCORD_TOKEN);
    expect(targets).toEqual(EXPECTED_TARGETS);
  });

  it("an event's routing leaves it out too", async () => {
    const body = JSON.stringify({ id: 'evt_target_secrets_1', object: 'event', type: 'invoice.paid' });
    const sent = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, SECRET) });
    expect(sent.status).toBe(202);
    const response = await adminRequest(app.baseUrl, TOKEN, 'GET', `/admin/events/${String(sent.json!.id)}`);
    expect(response.status).toBe(200);
    expect(JSON.stringify(response.json)).not.toContain(SLACK_TOKEN);
    expect(JSON.stringify(response.json)).not.toContain(DISCORD_TOKEN);
    const routing = response.json!.routing as { destinations: { name: string; target: string | null }[] };
    expect(Object.fromEntries(routing.destinations.map((destination) => [destination.name, destination.target]))).toEqual(EXPECTED_TARGETS);
  });
});
