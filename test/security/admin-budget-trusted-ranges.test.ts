/**
 * The admin API's wrong-token budget with TRUST_PROXY naming ranges, as the chart sets it when its Ingress is on
 * ("loopback, linklocal, uniquelocal"). Every pod of the cluster connects from a private address, so every pod is a
 * trusted proxy, and the address a request's wrong tokens were counted against (req.ip) was whatever it wrote in
 * X-Forwarded-For. Observed against a running ingress: a pod that sends `X-Forwarded-For: 127.0.0.1` with
 * ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE wrong tokens spent the budget of the pod's loopback address, which is every
 * operator behind `kubectl port-forward`: their right token was answered 429 for the rest of the minute, and the pod
 * could do it again every minute. Likewise an operator reaching the admin API through a proxy could be locked out by
 * anyone who could reach the port and name the operator's address.
 *
 * The loopback addresses 127.0.0.x stand in for pod addresses here: TRUST_PROXY trusts them just the same.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { adminGetFrom, startAdminBudgetIngress, startOfABudgetWindow } from '../support/admin-budget.js';
import { createProcessTestBed, type ProcessTestBed } from '../support/process-test-bed.js';
import type { ServiceProcess } from '../support/service-process.js';

const TOKEN = 'admin-trusted-ranges-test-token-0123456789';
const LIMIT = 5;
let bed: ProcessTestBed;
let ingress: ServiceProcess;

beforeAll(async () => {
  bed = await createProcessTestBed();
  ingress = await startAdminBudgetIngress(bed, { token: TOKEN, limit: LIMIT, env: { TRUST_PROXY: 'loopback, linklocal, uniquelocal', LOG_LEVEL: 'error' } });
}, 120_000);

afterAll(async () => bed?.close());

it("a client naming the port-forward operators' address in X-Forwarded-For does not lock them out; it is held to its own budget", async () => {
  await startOfABudgetWindow(ingress.baseUrl, { forwardedFor: '192.0.2.250' });
  // The operator through `kubectl port-forward`: a connection from the pod's loopback address, no proxy header.
  expect((await adminGetFrom(ingress.baseUrl, { from: '127.0.0.1', token: TOKEN })).status).toBe(200);
  // Another pod (its own address) names the loopback address, with wrong tokens.
  for (let i = 0; i < LIMIT; i++) {
    expect((await adminGetFrom(ingress.baseUrl, { from: '127.0.0.4', forwardedFor: '127.0.0.1', token: `wrong-${i}` })).status).toBe(401);
  }
  // Observed before: 429 with Retry-After, for the rest of the minute.
  expect((await adminGetFrom(ingress.baseUrl, { from: '127.0.0.1', token: TOKEN })).status).toBe(200);
  // The guesser itself has spent its budget.
  expect((await adminGetFrom(ingress.baseUrl, { from: '127.0.0.4', forwardedFor: '127.0.0.1', token: 'wrong-again' })).status).toBe(429);
}, 60_000);

it("an operator behind a proxy is not locked out by wrong tokens naming the operator's address from another connection", async () => {
  await startOfABudgetWindow(ingress.baseUrl, { forwardedFor: '192.0.2.251' });
  const operator = '203.0.113.7';
  // Through the proxy (127.0.0.3), which writes the operator's address.
  expect((await adminGetFrom(ingress.baseUrl, { from: '127.0.0.3', forwardedFor: operator, token: TOKEN })).status).toBe(200);
  for (let i = 0; i < LIMIT; i++) await adminGetFrom(ingress.baseUrl, { from: '127.0.0.5', forwardedFor: operator, token: `wrong-${i}` });
  expect((await adminGetFrom(ingress.baseUrl, { from: '127.0.0.3', forwardedFor: operator, token: TOKEN })).status).toBe(200);
}, 60_000);

it('clients behind one proxy keep budgets of their own: one spending its budget does not lock out another', async () => {
  await startOfABudgetWindow(ingress.baseUrl, { forwardedFor: '192.0.2.252' });
  for (let i = 0; i < LIMIT; i++) await adminGetFrom(ingress.baseUrl, { from: '127.0.0.3', forwardedFor: '198.51.100.1', token: `wrong-${i}` });
  expect((await adminGetFrom(ingress.baseUrl, { from: '127.0.0.3', forwardedFor: '198.51.100.1', token: TOKEN })).status).toBe(429);
  expect((await adminGetFrom(ingress.baseUrl, { from: '127.0.0.3', forwardedFor: '198.51.100.2', token: TOKEN })).status).toBe(200);
}, 60_000);
