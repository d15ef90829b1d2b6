import http from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The ingress role's termination as the chart runs it: the kubelet calls the preStop hook
 * (`GET /health/prestop?sleepSeconds=N`, lifecycle.preStop.httpGet), waits for its answer, then sends SIGTERM.
 *
 * The clients are modelled on what fronts the pods in a cluster: an ingress controller's upstream keep-alive pool,
 * or kube-proxy, where a connection once made keeps going to its pod and only new connections follow the endpoints.
 * Each client keeps one keep-alive connection and sends on it continuously; a new connection goes to the pods
 * in the endpoints, and pod A leaves the endpoints when its readiness turns 503 (as the endpoints controller does).
 */

const STRIPE_SECRET = 'whsec_prestop_test';
const CLIENTS = 6;
const PRESTOP_SLEEP_SECONDS = 2;

let db: TestDatabase;
let ns: TestQueueNamespace;
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
});

afterEach(async () => {
  await Promise.all(processes.splice(0).map((child) => child.kill()));
});

afterAll(async () => {
  await ns?.cleanup();
  await db?.drop();
});

async function startIngress(): Promise<ServiceProcess> {
  const child = new ServiceProcess(
    {
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      SHUTDOWN_TIMEOUT_MS: '15000',
    },
    await freePort(),
  );
  processes.push(child);
  return child.start();
}

interface Outcome {
  pod: 'A' | 'B';
  status?: number;
  connection?: string;
  error?: string;
  sentAt: number;
}

/** One request on a fresh connection, outside any client's pool (probes, the kubelet). */
function getOnce(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
  });
}

describe('preStop hook, then SIGTERM, under continuous keep-alive traffic', () => {
  it('answers every request (no ECONNRESET): the hook turns readiness 503 and closes each keep-alive connection before SIGTERM', async () => {
    const [a, b] = await Promise.all([startIngress(), startIngress()]);
    const ports = { A: a.port, B: b.port } as const;
    let endpoints: Array<'A' | 'B'> = ['A'];
    const outcomes: Outcome[] = [];
    const openSocketsTo = { A: new Set<Socket>(), B: new Set<Socket>() };
    let sending = true;
    let sequence = 0;

    const client = async (index: number) => {
      // One keep-alive connection per client, as an upstream pool holds them.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let sticky: 'A' | 'B' | undefined;
      while (sending) {
        const pod = sticky ?? endpoints[index % endpoints.length]!;
        const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: `evt_prestop_${index}_${sequence++}` });
        const outcome: Outcome = { pod, sentAt: Date.now() };
        outcomes.push(outcome);
        await new Promise<void>((resolve) => {
          const request = http.request(
            { host: '127.0.0.1', port: ports[pod], path: '/webhooks/stripe', method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
            (response) => {
              outcome.status = response.statusCode;
              outcome.connection = response.headers.connection;
              // The server ends this connection after the answer: the next request opens a new one.
              if (response.headers.connection === 'close') sticky = undefined;
              response.resume();
              response.on('end', resolve);
              response.on('error', (error) => {
                outcome.error = error.message;
                resolve();
              });
            },
          );
          request.on('socket', (socket: Socket) => {
            if (openSocketsTo[pod].has(socket)) return;
            openSocketsTo[pod].add(socket);
            sticky = pod;
            socket.once('close', () => {
              openSocketsTo[pod].delete(socket);
              if (sticky === pod && openSocketsTo[pod].size === 0) sticky = undefined;
            });
          });
          request.on('error', (error: NodeJS.ErrnoException) => {
            outcome.error = error.code ?? error.message;
            resolve();
          });
          request.end(body);
        });
      }
      agent.destroy();
    };
    const clients = Array.from({ length: CLIENTS }, (_, index) => client(index));

    // Traffic flows over keep-alive connections to A.
    await waitFor('keep-alive traffic to A', () => outcomes.filter((o) => o.pod === 'A' && o.status === 202).length >= 50, { timeoutMs: 20_000 });
    expect(openSocketsTo.A.size).toBe(CLIENTS);

    // The endpoints controller: A leaves the endpoints (new connections go to B) once its readiness fails.
    const readinessSeen: number[] = [];
    let watching = true;
    const endpointsController = (async () => {
      while (watching) {
        const { status } = await getOnce(`${a.baseUrl}/health/ready`).catch(() => ({ status: 0 }));
        readinessSeen.push(status);
        if (status !== 200) endpoints = ['B'];
        await delay(100);
      }
    })();

    // The kubelet: the preStop hook, waiting for its answer, then SIGTERM.
    const hookStarted = Date.now();
    const hook = await getOnce(`${a.baseUrl}/health/prestop?sleepSeconds=${PRESTOP_SLEEP_SECONDS}`);
    const hookEnded = Date.now();
    expect(hook.status).toBe(200);
    expect(hookEnded - hookStarted).toBeGreaterThanOrEqual(PRESTOP_SLEEP_SECONDS * 1000 - 50);
    // By the end of the hold every keep-alive connection to A was closed by A, after an answered request.
    const openAtSigterm = openSocketsTo.A.size;
    a.signal('SIGTERM');
    const exit = a.exited(20_000);

    // Traffic goes on (now to B) for a while after SIGTERM.
    const afterSigterm = outcomes.length;
    await waitFor('traffic after SIGTERM', () => outcomes.length - afterSigterm >= 50, { timeoutMs: 20_000 });
    sending = false;
    await Promise.all(clients);
    watching = false;
    await endpointsController;
    expect(await exit).toEqual({ code: 0, signal: null });

    // Every request was answered, none reset or refused.
    const failures = outcomes.filter((o) => o.error !== undefined || o.status !== 202);
    expect(failures).toEqual([]);
    expect(openAtSigterm).toBe(0);
    // Readiness turned 503 with the hook, well before SIGTERM, and never back to 200.
    const firstNotReady = readinessSeen.findIndex((status) => status !== 200);
    expect(readinessSeen[firstNotReady]).toBe(503);
    expect(readinessSeen.slice(firstNotReady).filter((status) => status === 200)).toEqual([]);
    // Clients kept sending to A during the hold; A answered them, each with Connection: close.
    const duringHold = outcomes.filter((o) => o.pod === 'A' && o.sentAt > hookStarted + 200 && o.sentAt < hookEnded);
    for (const outcome of duringHold) expect(outcome.connection).toBe('close');
    expect(outcomes.filter((o) => o.pod === 'B').length).toBeGreaterThan(50);
    // Every answered request is a stored event.
    const stored = await db.pool.query<{ count: string }>('SELECT count(*) FROM webhook_events');
    expect(Number(stored.rows[0]!.count)).toBe(outcomes.length);
  });

  it('a SIGTERM during the hold releases the held answer at once, so it never holds up the drain', async () => {
    const a = await startIngress();
    const hookStarted = Date.now();
    const hook = getOnce(`${a.baseUrl}/health/prestop?sleepSeconds=60`);
    await waitFor('readiness 503 after the hook', async () => (await getOnce(`${a.baseUrl}/health/ready`)).status === 503);
    a.signal('SIGTERM');
    expect((await hook).status).toBe(200);
    expect(await a.exited(15_000)).toEqual({ code: 0, signal: null });
    expect(Date.now() - hookStarted).toBeLessThan(15_000);
  });

  it('refuses proxied callers and bad sleepSeconds without announcing anything; an accepted call fails readiness at once', async () => {
    const a = await startIngress();
    const proxied = await new Promise<number>((resolve, reject) => {
      http
        .get(`${a.baseUrl}/health/prestop`, { agent: false, headers: { 'x-forwarded-for': '203.0.113.7' } }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(proxied).toBe(403);
    expect((await getOnce(`${a.baseUrl}/health/prestop?sleepSeconds=abc`)).status).toBe(400);
    expect((await getOnce(`${a.baseUrl}/health/prestop?sleepSeconds=100000`)).status).toBe(400);
    // Neither refused call announced anything.
    expect((await getOnce(`${a.baseUrl}/health/ready`)).status).toBe(200);

    const hook = await getOnce(`${a.baseUrl}/health/prestop?sleepSeconds=0`);
    expect(hook.status).toBe(200);
    expect(hook.headers.connection).toBe('close');
    const ready = await getOnce(`${a.baseUrl}/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.headers.connection).toBe('close');
  });
});
