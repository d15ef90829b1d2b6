/**
 * A destination's static `headers` are taken as any string → string map. Header names and values HTTP cannot carry
 * pass the start and fail every delivery instead: undici refuses the request ("invalid authorization header",
 * "invalid header key", "invalid transfer-encoding header", a content-length that never matches the body), each attempt
 * is a network_error and every event routed there ends in DEAD_LETTER. The commonest way to get one is YAML's block
 * scalar (`Authorization: |` keeps a trailing newline), the same mistake ADMIN_API_TOKEN is checked for.
 * The README: "Configuration that cannot work stops the start with one line naming the file, the entry and the problem".
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';
import { HttpSink } from '../support/http-sink.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_bad_headers';
let db: TestDatabase;
let ns: TestQueueNamespace;
let dir: string;
const sink = new HttpSink();
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await sink.start();
  dir = mkdtempSync(join(tmpdir(), 'routes-bad-headers-'));
});

afterAll(async () => {
  await Promise.all(processes.map((child) => child.kill()));
  await sink.stop();
  rmSync(dir, { recursive: true, force: true });
  await ns?.cleanup();
  await db?.drop();
});

const routesWithHeaders = (url: string, headersYaml: string) =>
  `destinations:\n  billing:\n    url: ${url}\n    headers:\n${headersYaml}routes:\n  - provider: stripe\n    to: [billing]\n`;

describe('ROUTES_FILE destination headers HTTP cannot send', () => {
  it.each([
    ['a block scalar value (trailing newline)', '      Authorization: |\n        Bearer abc\n'],
    ['a name with a space', '      "X Api Key": abc\n'],
    ['transfer-encoding', '      Transfer-Encoding: chunked\n'],
    ['content-length', '      Content-Length: "3"\n'],
  ])('%s is refused when the file is read, naming the destination and headers', (_what, headersYaml) => {
    expect(() => parseRoutes(routesWithHeaders('http://billing.internal/hooks', headersYaml))).toThrow(/^ROUTES_FILE: destination "billing": headers/);
  });

  it('the service does not start with `Authorization: |` (it started, and every event went to DEAD_LETTER)', async () => {
    const path = join(dir, 'routes.yaml');
    writeFileSync(path, routesWithHeaders(`${sink.url}/in`, '      Authorization: |\n        Bearer abc\n'));
    const service = new ServiceProcess(
      {
        SERVICE_ROLE: 'all',
        DATABASE_URL: db.url,
        REDIS_URL: ns.redisUrl,
        QUEUE_PREFIX: ns.prefix,
        STRIPE_WEBHOOK_SECRET: SECRET,
        ROUTES_FILE: path,
        JOB_ATTEMPTS: '1',
        POD_DELETION_COST_ENABLED: 'false',
      },
      await freePort(),
    );
    processes.push(service);
    await service.start({ waitForReady: false });
    // What happens today: the start succeeds and the event's only attempt fails inside undici.
    const started = await waitFor('ready or exited', async () => service.exitState() !== undefined || (await fetch(`${service.baseUrl}/health/ready`).catch(() => undefined))?.status === 200, {
      timeoutMs: 60_000,
    }).then(() => service.exitState() === undefined);
    if (started) {
      const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_bad_header' });
      await postWebhook(service.baseUrl, 'stripe', body, headers);
      let row: { status: string; last_error: string | null } | undefined;
      await waitFor(
        'the event to finish',
        async () => {
          row = (await db.pool.query<{ status: string; last_error: string | null }>(`SELECT status, last_error FROM webhook_events WHERE external_id = 'evt_bad_header'`)).rows[0];
          return row?.status === 'COMPLETED' || row?.status === 'DEAD_LETTER';
        },
        { timeoutMs: 30_000 },
      );
      expect({ started, event: row }).toEqual({ started: false, event: undefined });
    }
    const { code } = await service.exited(30_000);
    expect(code).toBe(1);
    expect(service.logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([
      expect.stringMatching(new RegExp(`^Failed to start: ROUTES_FILE ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: destination "billing": headers`)),
    ]);
  }, 120_000);
});
