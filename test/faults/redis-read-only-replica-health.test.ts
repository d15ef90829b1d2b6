import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { makeEvents } from '../support/provider-simulator.js';
import { RedisServer } from '../support/redis-server.js';
import type { ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

/**
 * REDIS_URL naming a read-only replica (a failover the service's endpoint did not follow, a reader endpoint given by
 * mistake): PING answers, every write is refused with READONLY, so no event can be queued or taken by a worker. The
 * operator must see it where a Redis outage shows: the health report and webhook_dependency_up{dependency="redis"}
 * (what WebhookRedisUnavailable reads, the alert that fires whatever the traffic).
 */
const destination = new RecordingDestination('orders');
let stack: FaultStack;
let replica: RedisServer;
let ingress: ServiceProcess;
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({ destinations: { orders: { destination } }, routes: [{ provider: 'stripe', to: ['orders'] }] });
  replica = new RedisServer(await RedisServer.freePort());
  await replica.start();
  const client = new Redis(replica.url, { maxRetriesPerRequest: 1 });
  try {
    await client.call('REPLICAOF', '127.0.0.1', String(stack.redis.port));
    await waitFor('the replica in sync', async () => (await client.info('replication')).includes('master_link_status:up'));
  } finally {
    client.disconnect();
  }
  const env = { REDIS_URL: replica.url };
  [ingress, worker] = await Promise.all([stack.start('ingress', env, undefined), stack.start('worker', env, undefined)]);
});

afterAll(async () => {
  await replica?.destroy();
  await stack?.teardown();
});

async function redisSeen(process: ServiceProcess): Promise<{ health: string; message: string | undefined; gauge: string | undefined }> {
  const health = (await (await fetch(`${process.baseUrl}/health`)).json()) as { details?: { redis?: { status: string; message?: string } } };
  const metrics = await (await fetch(`${process.baseUrl}/metrics`)).text();
  const gauge = /^webhook_dependency_up\{dependency="redis"\} (\S+)$/m.exec(metrics)?.[1];
  return { health: health.details?.redis?.status ?? 'absent', message: health.details?.redis?.message, gauge };
}

describe('REDIS_URL names a read-only replica', () => {
  it('reports Redis unusable in /health and webhook_dependency_up on every role, not "up"', async () => {
    const provider = stack.provider(() => [ingress.baseUrl]);
    const events = makeEvents('read-only', 5);
    await provider.run(events, { ratePerSecond: 10, concurrency: 2 });
    await provider.close();
    // Accepted and stored, but not one could be queued: the writes all met READONLY.
    await waitFor('the enqueue failures counted', async () => {
      const metrics = await (await fetch(`${ingress.baseUrl}/metrics`)).text();
      return Number(/^webhook_enqueue_failures_total (\S+)$/m.exec(metrics)?.[1] ?? 0) >= 5;
    });
    const seen = { ingress: await redisSeen(ingress), worker: await redisSeen(worker) };
    expect(seen).toMatchObject({ ingress: { health: 'down', gauge: '0' }, worker: { health: 'down', gauge: '0' } });
    // Why, as the runbook reads it. The ingress's connection is dropped and opened again on each READONLY (to follow a
    // failover), so a check between the two finds it not connected (`unreachable`); the next one meets the replica.
    for (const process of [ingress, worker]) {
      await waitFor(`${process === ingress ? 'the ingress' : 'the worker'} reporting a read-only replica`, async () => (await redisSeen(process)).message === 'read-only replica');
    }
  });

  it('says so in the logs, once a minute, though the connections reconnect on READONLY several times a second', async () => {
    const warnings = (process: ServiceProcess) =>
      process.jsonLogs().filter((line) => line.level === 'warn' && String(line.message).startsWith('Redis refused a write (READONLY'));
    await waitFor('the worker warned of READONLY', () => warnings(worker).length > 0);
    // The worker's connections have met READONLY many times by now (each BullMQ fetch), but warned once.
    expect(warnings(worker)).toHaveLength(1);
    expect(warnings(worker)[0]).toMatchObject({ scope: 'redis', refusals: 1 });
  });
});
