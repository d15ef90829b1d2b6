/**
 * The admin API is served by the ingress, on the port providers send webhooks to, so whoever can send a webhook can
 * send admin requests. Found: wrong bearer tokens were answered 401 without any bound, as fast as the ingress
 * answers: 500 guesses from one address in a row were all 401, and the right token came through at once after them.
 * A short operator-chosen token (the README's example is 15 characters) could be guessed over time from the outside.
 * Now a client address gets ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE wrong tokens per minute, then 429 with Retry-After
 * for every admin request until the minute ends, the right token included (or a guesser would lose nothing); other
 * addresses are not affected, and a request with no token at all is not counted.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { adminGetFrom, startAdminBudgetIngress, startOfABudgetWindow } from '../support/admin-budget.js';
import { createProcessTestBed, type ProcessTestBed } from '../support/process-test-bed.js';
import type { ServiceProcess } from '../support/service-process.js';

const TOKEN = 'admin-budget-test-token-0123456789';
const LIMIT = 5;
let bed: ProcessTestBed;
let ingress: ServiceProcess;

beforeAll(async () => {
  bed = await createProcessTestBed();
  ingress = await startAdminBudgetIngress(bed, { token: TOKEN, limit: LIMIT });
}, 120_000);

afterAll(async () => bed?.close());

const adminGet = (from: string, token?: string) => adminGetFrom(ingress.baseUrl, { from, token });

it(`a client address gets ${LIMIT} wrong admin tokens a minute, then 429 for every admin request, the right token included; other addresses are unaffected`, async () => {
  await startOfABudgetWindow(ingress.baseUrl);
  const guesser = '127.0.0.2';
  // Requests with no token at all are not guesses: never counted.
  for (let i = 0; i < LIMIT + 3; i++) expect((await adminGet(guesser)).status).toBe(401);
  expect((await adminGet(guesser, TOKEN)).status).toBe(200);

  for (let i = 0; i < LIMIT; i++) expect((await adminGet(guesser, `wrong-${i}`)).status).toBe(401);
  const refused = await adminGet(guesser, 'wrong-again');
  expect(refused.status).toBe(429);
  expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
  // The right token from the guessing address waits out the window too: a budget it could pass would not slow guesses.
  expect((await adminGet(guesser, TOKEN)).status).toBe(429);

  // An operator on another address signs in as always.
  expect((await adminGet('127.0.0.3', TOKEN)).status).toBe(200);
  expect((await adminGet('127.0.0.3', 'one-typo')).status).toBe(401);
  expect((await adminGet('127.0.0.3', TOKEN)).status).toBe(200);
}, 60_000);
