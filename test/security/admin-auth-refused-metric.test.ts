/**
 * The admin API's refusals have a metric of their own (README Admin API, docs/runbooks.md "Signals at hand"). Found:
 * a wrong admin token (401) and an address past ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE (429) showed only in the generic
 * `http_request_duration_seconds`, where a 429 of the admin API's route pattern is not told apart from a guess, so an
 * SRE could not see "someone is guessing the admin token". Now `webhook_admin_auth_refused_total{reason}` counts
 * `wrong_token` and `budget_spent`, both at 0 from the start (increase() sees a new pod's first guess), with no client
 * address among its labels (a guesser writing a new X-Forwarded-For per request must not add series). A request
 * with no token is not a guess and is not counted.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { adminGetFrom, startAdminBudgetIngress, startOfABudgetWindow } from '../support/admin-budget.js';
import { createProcessTestBed, type ProcessTestBed } from '../support/process-test-bed.js';
import type { ServiceProcess } from '../support/service-process.js';
import { find, parseExposition } from '../observability/support/prometheus-text.js';

const TOKEN = 'admin-refused-metric-token-0123456789';
const LIMIT = 4;
const METRIC = 'webhook_admin_auth_refused_total';
let bed: ProcessTestBed;
let ingress: ServiceProcess;

beforeAll(async () => {
  bed = await createProcessTestBed();
  ingress = await startAdminBudgetIngress(bed, { token: TOKEN, limit: LIMIT });
}, 120_000);

afterAll(async () => bed?.close());

/** The counter's series from the ingress's /metrics. */
async function refused() {
  const response = await fetch(`${ingress.baseUrl}/metrics`);
  expect(response.status).toBe(200);
  const series = find(parseExposition(await response.text()), METRIC);
  const of = (reason: string) => series.find((sample) => sample.labels.reason === reason)?.value;
  return { series, wrongToken: of('wrong_token'), budgetSpent: of('budget_spent') };
}

const adminGet = (from: string, token?: string) => adminGetFrom(ingress.baseUrl, { from, token });

it('counts wrong admin tokens and the requests refused by the budget, each from 0 at the start, by reason only', async () => {
  // Before any admin request: both series there, at 0.
  expect(await refused()).toMatchObject({ wrongToken: 0, budgetSpent: 0 });

  await startOfABudgetWindow(ingress.baseUrl); // spends 127.0.0.9's budget: counted too
  const before = await refused();
  const guesser = '127.0.0.2';
  // No token: not a guess, not counted.
  for (let i = 0; i < 3; i++) expect((await adminGet(guesser)).status).toBe(401);
  expect(await refused()).toMatchObject({ wrongToken: before.wrongToken, budgetSpent: before.budgetSpent });

  for (let i = 0; i < LIMIT; i++) expect((await adminGet(guesser, `wrong-${i}`)).status).toBe(401);
  expect(await refused()).toMatchObject({ wrongToken: before.wrongToken! + LIMIT, budgetSpent: before.budgetSpent });

  // Past the budget: a wrong token and the right one are both refused by the budget, not counted as wrong tokens.
  expect((await adminGet(guesser, 'wrong-again')).status).toBe(429);
  expect((await adminGet(guesser, TOKEN)).status).toBe(429);
  // Another address with the right token: let through, nothing counted.
  expect((await adminGet('127.0.0.3', TOKEN)).status).toBe(200);
  const after = await refused();
  expect(after).toMatchObject({ wrongToken: before.wrongToken! + LIMIT, budgetSpent: before.budgetSpent! + 2 });
  // No client address (nor anything else) as a label: one series per reason, however many addresses guessed.
  expect(after.series.map((sample) => sample.labels)).toEqual([{ reason: 'wrong_token' }, { reason: 'budget_spent' }]);
}, 120_000);
