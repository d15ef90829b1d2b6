import http from 'node:http';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

/**
 * With PRESTOP_TOKEN set (as the chart sets it), `GET /health/prestop` announces the pod's termination only for a
 * request carrying the token in X-Prestop-Token, as the chart's preStop `httpGet.httpHeaders` sends it. The kubelet
 * calls from the node's address, so the caller's address decides nothing: a missing or wrong token is refused with
 * 403 from anywhere — loopback too, where a service-mesh sidecar forwards every inbound request from — and changes
 * nothing.
 */

const PRESTOP_TOKEN = 'prestop-token-of-this-release-0123456789';

let db: TestDatabase;
let ns: TestQueueNamespace;
let ingress: ServiceProcess;
let networkBase: string;

function nonLoopbackAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  throw new Error('this test needs a non-loopback IPv4 address to call the service as the kubelet does (from the node)');
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  ingress = await new ServiceProcess(
    { SERVICE_ROLE: 'ingress', HOST: '0.0.0.0', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, PRESTOP_TOKEN },
    await freePort(),
  ).start();
  networkBase = `http://${nonLoopbackAddress()}:${ingress.port}`;
});

afterAll(async () => {
  await ingress?.kill();
  await ns?.cleanup();
  await db?.drop();
});

describe('the preStop hook with PRESTOP_TOKEN set', () => {
  it('refuses a missing or wrong token, from another host or from loopback, in the error shape, and announces nothing', async () => {
    const callers: { from: string; url: string; headers: Record<string, string> }[] = [
      { from: 'another host, no token', url: networkBase, headers: {} },
      { from: 'another host, wrong token', url: networkBase, headers: { 'X-Prestop-Token': `${PRESTOP_TOKEN}x` } },
      { from: 'another host, token prefix', url: networkBase, headers: { 'X-Prestop-Token': PRESTOP_TOKEN.slice(0, 10) } },
      { from: 'loopback (a sidecar), no token', url: ingress.baseUrl, headers: {} },
    ];
    for (const caller of callers) {
      const hook = await get(`${caller.url}/health/prestop?sleepSeconds=0`, caller.headers);
      const body = JSON.parse(hook.body) as { statusCode: number; code: string; path: string; message: string };
      expect({ from: caller.from, status: hook.status, statusCode: body.statusCode, code: body.code, path: body.path }).toEqual({
        from: caller.from,
        status: 403,
        statusCode: 403,
        code: 'FORBIDDEN',
        path: '/health/prestop',
      });
      expect(body.message).not.toContain(PRESTOP_TOKEN);
      expect({ from: caller.from, ready: (await get(`${networkBase}/health/ready`)).status }).toEqual({ from: caller.from, ready: 200 });
    }
  });

  it('announces the termination for the token, sent from the node as the kubelet sends it', async () => {
    const hook = await get(`${networkBase}/health/prestop?sleepSeconds=0`, { 'X-Prestop-Token': PRESTOP_TOKEN });
    expect(hook.status).toBe(200);
    expect(JSON.parse(hook.body)).toMatchObject({ status: 'terminating' });
    expect((await get(`${networkBase}/health/ready`)).status).toBe(503);
  });
});
