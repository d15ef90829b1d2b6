/**
 * The README's examples, as written: every PROVIDERS_FILE and ROUTES_FILE block is read by the service's own
 * loaders, and the quickstart's signed-Stripe snippet is run by bash against a real service (only its port is
 * the test's own).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { parseProvidersFile } from '../../services/ingress/verification/providers-file.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

/** Fenced code blocks of one language, in order. */
function blocks(language: string): string[] {
  return [...readme.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((match) => match[1]!);
}

describe('README configuration examples', () => {
  const yamlBlocks = blocks('yaml').map((text) => ({ text, document: parse(text) as Record<string, unknown> | null }));

  it('has the PROVIDERS_FILE and ROUTES_FILE examples', () => {
    expect(yamlBlocks.filter(({ document }) => document && 'providers' in document).length).toBeGreaterThanOrEqual(1);
    expect(yamlBlocks.filter(({ document }) => document && 'destinations' in document).length).toBeGreaterThanOrEqual(1);
  });

  it('every PROVIDERS_FILE example is accepted by the service, as written', () => {
    for (const { text, document } of yamlBlocks.filter(({ document }) => document && 'providers' in document)) {
      expect(() => parseProvidersFile(text, 'README PROVIDERS_FILE example')).not.toThrow();
      expect(parseProvidersFile(text, 'README').length).toBe(Object.keys(document!.providers as object).length);
    }
  });

  it('every ROUTES_FILE example is accepted by the service, as written', () => {
    for (const { text } of yamlBlocks.filter(({ document }) => document && 'destinations' in document)) {
      expect(() => parseRoutes(text, 'README ROUTES_FILE example')).not.toThrow();
    }
  });
});

describe('README quickstart: send it a signed Stripe event', () => {
  let db: TestDatabase;
  let ns: TestQueueNamespace;
  let service: ServiceProcess;

  beforeAll(async () => {
    db = await createTestDatabase();
    ns = createQueueNamespace();
    const secret = /STRIPE_WEBHOOK_SECRET=(\S+) npm start/.exec(readme)?.[1];
    expect(secret).toBe('whsec_demo');
    service = await new ServiceProcess(
      { SERVICE_ROLE: 'all', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, STRIPE_WEBHOOK_SECRET: secret },
      await freePort(),
    ).start();
  });

  afterAll(async () => {
    await service?.kill();
    await ns?.cleanup();
    await db?.drop();
  });

  it('answers 202, then 200 duplicate to the same request', () => {
    const snippet = blocks('sh').find((text) => text.includes('curl') && text.includes('stripe-signature'));
    expect(snippet).toBeDefined();
    expect(snippet).toContain('localhost:3000');
    const run = () => execFileSync('bash', ['-euo', 'pipefail', '-c', snippet!.replaceAll('localhost:3000', `127.0.0.1:${service.port}`)], { encoding: 'utf8' });
    const first = run();
    expect(first).toMatch(/^HTTP\/1\.1 202/);
    expect(first).toContain('"status":"PENDING","duplicate":false');
    const again = run();
    expect(again).toMatch(/^HTTP\/1\.1 200/);
    expect(again).toContain('"duplicate":true');
  });
});
