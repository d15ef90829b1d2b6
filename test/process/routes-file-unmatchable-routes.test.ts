/**
 * A ROUTES_FILE route that can never match anything is accepted, and every event it was meant for is COMPLETED with
 * nothing delivered (the contract: "An event that no route matches is COMPLETED with nothing delivered"), with no
 * warning at start or per event:
 * - `provider: Stripe` (or `"stripe "`, `git hub`): provider names are ^[a-z0-9][a-z0-9_-]{0,62}$ (PROVIDER_NAME_PATTERN;
 *   the built-ins are lower-case), and route matching compares them exactly, so such a route matches no event;
 * - `events: []`: "omitted = all", but an empty list matches no event type.
 * The file's keys are checked strictly ("a misspelt or misplaced key stops the start ... instead of being ignored and
 * routing differently than written"); a value that routes nothing is the same mistake one level down.
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

const SECRET = 'whsec_unmatchable_routes';
let db: TestDatabase;
let ns: TestQueueNamespace;
let dir: string;
const sink = new HttpSink();
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await sink.start();
  dir = mkdtempSync(join(tmpdir(), 'routes-unmatchable-'));
});

afterAll(async () => {
  await Promise.all(processes.map((child) => child.kill()));
  await sink.stop();
  rmSync(dir, { recursive: true, force: true });
  await ns?.cleanup();
  await db?.drop();
});

const routesFile = (url: string, route: string) => `destinations:\n  billing:\n    url: ${url}\nroutes:\n  - ${route}\n    to: [billing]\n`;

describe('ROUTES_FILE routes that can never match', () => {
  it.each([
    ['provider: Stripe', /^ROUTES_FILE: routes\.0\.provider: /],
    ['provider: "stripe "', /^ROUTES_FILE: routes\.0\.provider: /],
    ['provider: git hub', /^ROUTES_FILE: routes\.0\.provider: /],
    ['provider: stripe\n    events: []', /^ROUTES_FILE: routes\.0\.events: /],
  ])('%s is refused when the file is read', (route, problem) => {
    expect(() => parseRoutes(routesFile('http://billing.internal/hooks', route))).toThrow(problem);
  });

  it('the service does not start with `provider: Stripe` (it started, and a Stripe event was COMPLETED with nothing delivered)', async () => {
    const path = join(dir, 'routes.yaml');
    writeFileSync(path, routesFile(`${sink.url}/in`, 'provider: Stripe'));
    const service = new ServiceProcess(
      { SERVICE_ROLE: 'all', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, STRIPE_WEBHOOK_SECRET: SECRET, ROUTES_FILE: path, POD_DELETION_COST_ENABLED: 'false' },
      await freePort(),
    );
    processes.push(service);
    await service.start({ waitForReady: false });
    const started = await waitFor('ready or exited', async () => service.exitState() !== undefined || (await fetch(`${service.baseUrl}/health/ready`).catch(() => undefined))?.status === 200, {
      timeoutMs: 60_000,
    }).then(() => service.exitState() === undefined);
    if (started) {
      const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_unrouted' });
      await postWebhook(service.baseUrl, 'stripe', body, headers);
      let status: string | undefined;
      await waitFor('the event to finish', async () => {
        status = (await db.pool.query<{ status: string }>(`SELECT status FROM webhook_events WHERE external_id = 'evt_unrouted'`)).rows[0]?.status;
        return status === 'COMPLETED' || status === 'DEAD_LETTER';
      }, { timeoutMs: 30_000 });
      expect({ started, status, delivered: sink.requests.length }).toEqual({ started: false, status: undefined, delivered: 0 });
    }
    expect((await service.exited(30_000)).code).toBe(1);
    expect(service.logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([expect.stringContaining('routes.0.provider')]);
  }, 120_000);
});
