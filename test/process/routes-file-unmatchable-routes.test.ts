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
import { parseRoutes } from '../../services/worker/routing/routes-file.js';
import { createProcessTestBed, type ProcessTestBed } from '../support/process-test-bed.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_unmatchable_routes';
let bed: ProcessTestBed;

beforeAll(async () => {
  bed = await createProcessTestBed();
});

afterAll(() => bed?.close());

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
    const path = bed.writeFile('routes.yaml', routesFile(`${bed.sink.url}/in`, 'provider: Stripe'));
    const service = await bed.serviceProcess({ STRIPE_WEBHOOK_SECRET: SECRET, ROUTES_FILE: path });
    await service.start({ waitForReady: false });
    const started = await service.readyOrExited();
    if (started) {
      const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_unrouted' });
      await postWebhook(service.baseUrl, 'stripe', body, headers);
      let status: string | undefined;
      await waitFor('the event to finish', async () => {
        status = (await bed.db.pool.query<{ status: string }>(`SELECT status FROM webhook_events WHERE external_id = 'evt_unrouted'`)).rows[0]?.status;
        return status === 'COMPLETED' || status === 'DEAD_LETTER';
      }, { timeoutMs: 30_000 });
      expect({ started, status, delivered: bed.sink.requests.length }).toEqual({ started: false, status: undefined, delivered: 0 });
    }
    expect((await service.exited(30_000)).code).toBe(1);
    expect(service.logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([expect.stringContaining('routes.0.provider')]);
  }, 120_000);
});
