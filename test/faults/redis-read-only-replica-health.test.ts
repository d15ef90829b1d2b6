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
/** The test's own connection to the replica. */
let admin: Redis;
let ingress: ServiceProcess;
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({ destinations: { orders: { destination } }, routes: [{ provider: 'stripe', to: ['orders'] }] });
  replica = new RedisServer(await RedisServer.freePort());
  await replica.start();
  admin = new Redis(replica.url, { maxRetriesPerRequest: 1 });
  await admin.call('REPLICAOF', '127.0.0.1', String(stack.redis.port));
  await waitFor('the replica in sync', async () => (await admin.info('replication')).includes('master_link_status:up'));
  const env = { REDIS_URL: replica.url };
  [ingress, worker] = await Promise.all([stack.start('ingress', env, undefined), stack.start('worker', env, undefined)]);
});

afterAll(async () => {
  if (admin && admin.status !== 'end') admin.disconnect();
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
    // Why, as the runbook reads it.
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

  it('keeps saying "read-only replica", not "unreachable", while the connections are dropped and opened again on each READONLY', async () => {
    // Each READONLY drops the connection that met it, to follow a failover; on a replica the next connection is
    // refused again. A check between the drop and the reconnect finds the connection down, and must still say why.
    // Sampled, one check after another, on both roles while webhooks keep meeting READONLY on the ingress, until the
    // pods' fail-fast connections have been opened again several times.
    const producerIds = async () => {
      const clients = (await admin.call('CLIENT', 'LIST')) as string;
      return clients.split('\n').filter((line) => line.includes('name=event-driven-integration-service:producer')).map((line) => Number(/\bid=(\d+)/.exec(line)![1]));
    };
    const before = Math.max(0, ...(await producerIds()));
    const reopened = new Set<number>();
    const provider = stack.provider(() => [ingress.baseUrl]);
    const seen: Record<string, number> = {};
    let round = 0;
    await waitFor('the producer connections opened again several times', async () => {
      if (round++ % 5 === 0) await provider.run(makeEvents(`read-only-${round}`, 1), { ratePerSecond: 100, concurrency: 1 });
      for (const process of [ingress, worker]) {
        const message = `${process === ingress ? 'ingress' : 'worker'}: ${(await redisSeen(process)).message}`;
        seen[message] = (seen[message] ?? 0) + 1;
      }
      for (const id of await producerIds()) if (id > before) reopened.add(id);
      return reopened.size >= 6;
    }, { timeoutMs: 60_000, intervalMs: 0 });
    await provider.close();
    expect(Object.keys(seen).sort()).toEqual(['ingress: read-only replica', 'worker: read-only replica']);
  });

  it('says "unreachable" once the replica itself is gone: a refusal is reported only until a reconnect fails', async () => {
    // Closed first: a client left reconnecting to a stopped server keeps a timer after disconnect().
    await admin.quit();
    await replica.stop();
    for (const process of [ingress, worker]) {
      await waitFor(`${process === ingress ? 'the ingress' : 'the worker'} reporting Redis unreachable`, async () => (await redisSeen(process)).message === 'unreachable');
    }
  });
});
