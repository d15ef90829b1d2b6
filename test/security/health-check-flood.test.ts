import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import net from 'node:net';
import { startInProcessIngress, type InProcessIngress } from '../support/in-process-ingress.js';
import { waitFor } from '../support/wait-for.js';

/**
 * `/health` and `/health/ready` answer anyone who reaches the port (the kubelet, Prometheus, any pod) and run the
 * dependency checks: a PostgreSQL query on the pool the webhooks are stored with, and a Redis write. Each request ran
 * them for itself, so a client flooding `GET /health` made one pool query and one Redis write per request: with
 * PostgreSQL slow, its queries queued ahead of the webhooks' inserts for a pool connection (3 s at most, then the
 * insert fails: 503), and the kubelet's own probe waited behind them. Requests that arrive while a check is running
 * now share its result, so a flood costs each dependency one check at a time, however many requests it sends.
 */
let app: InProcessIngress;

beforeAll(async () => {
  app = await startInProcessIngress({ STRIPE_WEBHOOK_SECRET: 'whsec_health_flood', LOG_LEVEL: 'error' });
}, 60_000);

afterAll(async () => app?.stop());

/** Writes `requests` at once on one connection and resolves with the status lines of their answers, once all came. */
function pipelined(requests: string[]): Promise<string[]> {
  const url = new URL(app.baseUrl);
  return new Promise((resolve, reject) => {
    let received = '';
    const statusLines = () => received.match(/HTTP\/1\.1 \d{3}(?= )/g) ?? [];
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(requests.join('')));
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (statusLines().length >= requests.length) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(statusLines()));
  });
}

/** The Redis health-check writes Redis ran while `action` ran (read through MONITOR, up to a write made after it). */
async function healthWritesDuring(action: () => Promise<void>): Promise<number> {
  const healthKey = `${app.ns.prefix}:webhook-events:health-check`;
  const sentinel = `${app.ns.prefix}:health-flood-sentinel:${Math.random()}`;
  const monitorConnection = new Redis(app.ns.redisUrl);
  const monitor = await monitorConnection.monitor();
  const writer = new Redis(app.ns.redisUrl);
  let writes = 0;
  let sentinelSeen = false;
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[1] === healthKey) writes++;
    if (args[1] === sentinel) sentinelSeen = true;
  });
  try {
    await action();
    // Everything Redis ran before this write is in the monitor's feed once this write is.
    await writer.set(sentinel, '1', 'PX', 10_000);
    await waitFor('the monitor to show the sentinel write', async () => sentinelSeen);
  } finally {
    monitor.disconnect();
    monitorConnection.disconnect();
    writer.disconnect();
  }
  return writes;
}

describe('health checks under a flood of health requests', () => {
  it('runs the Redis write check once for 16 /health requests that arrive together (before: 16 writes)', async () => {
    const writes = await healthWritesDuring(async () => {
      const answers = await pipelined(Array.from({ length: 16 }, () => 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
      expect(answers).toEqual(Array.from({ length: 16 }, () => 'HTTP/1.1 200'));
    });
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThanOrEqual(2);
  }, 60_000);

  it('keeps no result: a request that comes after the previous check ended runs a check of its own', async () => {
    const writes = await healthWritesDuring(async () => {
      for (let i = 0; i < 3; i++) expect((await fetch(`${app.baseUrl}/health`)).status).toBe(200);
    });
    expect(writes).toBe(3);
  }, 60_000);
});
