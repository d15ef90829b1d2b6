/**
 * An ingress started without a single webhook provider (no STRIPE_WEBHOOK_SECRET, GITHUB_WEBHOOK_SECRET,
 * PAYPAL_WEBHOOK_ID, nor a PROVIDERS_FILE provider with secrets) answers every webhook 404, and the start said
 * nothing about it: a secret missing from a deployment (a Secret not mounted, a variable misspelt) showed up only as
 * every provider's deliveries failing. It is valid (an ingress serving only the admin API and the console), so the
 * start goes on, with one warning line that says so and names what enables a provider. An ingress with a provider
 * says nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

let db: TestDatabase;
let ns: TestQueueNamespace;
let service: ServiceProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
});

afterAll(async () => {
  await service?.kill();
  await ns?.cleanup();
  await db?.drop();
});

/** Starts an ingress with `env` (until ready), and returns its warning lines about providers; stops it. */
async function providerWarningsAtStart(env: Record<string, string>): Promise<Record<string, unknown>[]> {
  service = new ServiceProcess({ SERVICE_ROLE: 'ingress', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, ...env }, await freePort());
  await service.start();
  const webhook = await fetch(`${service.baseUrl}/webhooks/github`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  // Lines are written in order: once this request's access line is out, every line of the start is too.
  const running = service;
  await waitFor("the webhook's access log line", () => running.jsonLogs().some((line) => line.path === '/webhooks/github'), { timeoutMs: 30_000 });
  const lines = service.jsonLogs().filter((line) => line.level === 'warn' && /provider/i.test(String(line.message)));
  await service.kill();
  service = undefined;
  return [...lines, { webhookStatus: webhook.status }];
}

describe('an ingress without webhook providers', () => {
  it('warns once at start that every webhook is answered 404, naming what enables a provider', async () => {
    const lines = await providerWarningsAtStart({});
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        message:
          'no webhook provider is configured, so every POST /webhooks/{provider} is answered 404: set STRIPE_WEBHOOK_SECRET, ' +
          'GITHUB_WEBHOOK_SECRET or PAYPAL_WEBHOOK_ID, or name in PROVIDERS_FILE a provider with secrets',
      }),
      { webhookStatus: 404 },
    ]);
  }, 120_000);

  it('says nothing when a provider is configured', async () => {
    expect(await providerWarningsAtStart({ GITHUB_WEBHOOK_SECRET: 'no-providers-warning-secret' })).toEqual([{ webhookStatus: 401 }]);
  }, 120_000);
});
