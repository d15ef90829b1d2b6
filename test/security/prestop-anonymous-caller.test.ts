import http from 'node:http';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

/**
 * `GET /health/prestop` is the kubelet's preStop hook: it fails the pod's readiness and closes every keep-alive
 * connection. Its only guard is the absence of proxy headers, so any client that reaches the port directly — any pod
 * in the cluster (the chart's NetworkPolicy is off by default, and `ingressFrom: []` admits everyone), or anyone on
 * the internet when `ingress.service.type` is LoadBalancer/NodePort, which send no X-Forwarded-For — can take every
 * ingress pod out of the endpoints with one anonymous GET per pod, and keep them out by repeating it (each call lasts
 * sleepSeconds + 30 s, up to 150 s): no webhook reaches the service, an outage caused without any credential.
 *
 * Here the caller is another host on the network (the machine's non-loopback address, as another pod would be),
 * sending none of the proxy headers and no credential. Such a call must not announce a termination.
 */

const STRIPE_SECRET = 'whsec_prestop_anonymous';

let db: TestDatabase;
let ns: TestQueueNamespace;
let ingress: ServiceProcess;
let networkAddress: string;

/** This machine's first non-loopback IPv4 address: what another pod would see the service at. */
function nonLoopbackAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  throw new Error('this test needs a non-loopback IPv4 address to call the service from "another pod"');
}

function getOnce(url: string): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, body }));
      })
      .on('error', reject);
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  networkAddress = nonLoopbackAddress();
  // HOST 0.0.0.0, as in a pod: reachable on the pod's own address.
  ingress = await new ServiceProcess(
    { SERVICE_ROLE: 'ingress', HOST: '0.0.0.0', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, STRIPE_WEBHOOK_SECRET: STRIPE_SECRET },
    await freePort(),
  ).start();
});

afterAll(async () => {
  await ingress?.kill();
  await ns?.cleanup();
  await db?.drop();
});

describe('the preStop hook called by someone other than the kubelet', () => {
  it('an anonymous direct GET /health/prestop from another host does not take the pod out of readiness', async () => {
    const base = `http://${networkAddress}:${ingress.port}`;
    expect((await getOnce(`${base}/health/ready`)).status).toBe(200);

    // What any pod in the cluster can send: no proxy header, no credential.
    const hook = await getOnce(`${base}/health/prestop?sleepSeconds=0`);
    // Over a keep-alive client (fetch): getOnce's `agent: false` asks for Connection: close itself, which the server
    // only echoes, so its answer's Connection header could not tell whether the pod closes connections.
    const ready = await fetch(`${base}/health/ready`);
    await ready.arrayBuffer();
    const live = await getOnce(`${base}/health/live`);
    // Observed: hook 200 {"status":"terminating"}, then readiness 503 ("shutting down") for the next 30 s (150 s with
    // sleepSeconds=120), every response with Connection: close; repeating the call keeps the pod out indefinitely.
    const observed = { hook: `${hook.status} ${hook.body}`, ready: ready.status, readyConnection: ready.headers.get('connection') ?? 'keep-alive' };
    expect({ ...observed, hook: hook.status >= 400 ? 'refused' : observed.hook }).toEqual({ hook: 'refused', ready: 200, readyConnection: 'keep-alive' });
    expect(live.status).toBe(200);

    // The pod still takes webhooks over keep-alive connections as before.
    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_after_anonymous_prestop', type: 'invoice.paid' });
    const response = await fetch(`${base}/webhooks/stripe`, { method: 'POST', body, headers });
    expect(response.status).toBe(202);
    expect(response.headers.get('connection')).not.toBe('close');
  });
});
