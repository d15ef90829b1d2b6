/**
 * A PROVIDERS_FILE `hmac` provider may list the media types its sender uses (`contentTypes`), and the loader takes any
 * media type, `application/x-www-form-urlencoded` and `text/plain` included. The verifier, though, parses every body
 * as JSON ("the body must be JSON in any case"): a correctly signed form-encoded delivery passes the 415 check, passes
 * the signature check, and is then answered 400 "Webhook payload is not valid JSON". The sender retries and gives up:
 * every event is lost, and the service started as if the provider were usable.
 * Either the loader refuses such a definition at start (one line naming the file, `contentTypes` and the problem), or
 * the delivery is stored (202).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

let db: TestDatabase;
let ns: TestQueueNamespace;
let dir: string;
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  dir = mkdtempSync(join(tmpdir(), 'providers-form-'));
});

afterAll(async () => {
  await Promise.all(processes.map((child) => child.kill()));
  rmSync(dir, { recursive: true, force: true });
  await ns?.cleanup();
  await db?.drop();
});

const PROVIDERS = `providers:
  forms:
    type: hmac
    header: X-Signature
    algorithm: sha256
    encoding: hex
    secrets: [form-secret-1]
    idHeader: X-Event-Id
    typeHeader: X-Event-Type
    contentTypes: [application/x-www-form-urlencoded]
`;

describe('PROVIDERS_FILE hmac provider declared with a form-encoded content type', () => {
  it('either refuses the definition at start or stores a correctly signed form-encoded delivery', async () => {
    const path = join(dir, 'providers.yaml');
    writeFileSync(path, PROVIDERS);
    const service = new ServiceProcess(
      {
        SERVICE_ROLE: 'all',
        DATABASE_URL: db.url,
        REDIS_URL: ns.redisUrl,
        QUEUE_PREFIX: ns.prefix,
        PROVIDERS_FILE: path,
        POD_DELETION_COST_ENABLED: 'false',
      },
      await freePort(),
    );
    processes.push(service);
    await service.start({ waitForReady: false });
    const started = await waitFor(
      'ready or exited',
      async () => service.exitState() !== undefined || (await fetch(`${service.baseUrl}/health/ready`).catch(() => undefined))?.status === 200,
      { timeoutMs: 60_000 },
    ).then(() => service.exitState() === undefined);

    if (!started) {
      // Refused at start: one line naming the file, the key and the problem.
      expect(service.logs.join('\n')).toMatch(/PROVIDERS_FILE .*providers\.forms\.contentTypes/);
      return;
    }
    const body = 'order=1001&status=paid&amount=12.50';
    const response = await postWebhook(service.baseUrl, 'forms', body, {
      'content-type': 'application/x-www-form-urlencoded',
      'x-signature': createHmac('sha256', 'form-secret-1').update(body).digest('hex'),
      'x-event-id': randomUUID(),
      'x-event-type': 'order.paid',
    });
    // Today: 400 {"message":"Webhook payload is not valid JSON"} for a delivery whose signature is correct.
    expect({ status: response.status, body: response.text }).toMatchObject({ status: 202 });
  });
});
