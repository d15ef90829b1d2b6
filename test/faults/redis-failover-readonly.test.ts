import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { Redis } from 'ioredis';
import { makeEvents } from '../support/provider-simulator.js';
import { RedisServer } from '../support/redis-server.js';
import type { ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack, reportFigures, settle } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

/**
 * The service's endpoint for Redis as a managed Redis gives it (ElastiCache's primary endpoint, a Sentinel-managed
 * VIP, Memorystore): new connections go to whichever node is primary now; connections already open stay on the node
 * they reached. A failover promotes the replica and turns the old primary into a replica of it, without closing its
 * clients: they get `READONLY You can't write against a read only replica` for every write from then on.
 */
class FailoverEndpoint {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  constructor(public targetPort: number) {}

  async start(): Promise<number> {
    this.server = net.createServer((client) => {
      const upstream = net.connect({ host: '127.0.0.1', port: this.targetPort });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const destination = new RecordingDestination('orders');
let stack: FaultStack;
let replica: RedisServer;
let endpoint: FailoverEndpoint;
let ingress: ServiceProcess;
let worker: ServiceProcess;

async function command(port: number, ...args: string[]): Promise<unknown> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    return await client.call(args[0]!, ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { orders: { destination } },
    routes: [{ provider: 'stripe', to: ['orders'] }],
  });
  replica = new RedisServer(await RedisServer.freePort());
  await replica.start();
  await command(replica.port, 'REPLICAOF', '127.0.0.1', String(stack.redis.port));
  await waitFor('the replica in sync', async () => String(await command(replica.port, 'INFO', 'replication')).includes('master_link_status:up'));
  endpoint = new FailoverEndpoint(stack.redis.port);
  const endpointPort = await endpoint.start();
  const env = { REDIS_URL: `redis://127.0.0.1:${endpointPort}/0` };
  [ingress, worker] = await Promise.all([stack.start('ingress', env), stack.start('worker', env)]);
});

afterAll(async () => {
  await endpoint?.stop();
  await replica?.destroy();
  await stack?.teardown();
});

describe('a Redis failover: the old primary becomes a read-only replica, the endpoint moves to the new primary', () => {
  it('delivers every event accepted after the failover (the service leaves the read-only node)', async () => {
    const startedAt = Date.now();
    const provider = stack.provider(() => [ingress.baseUrl]);
    const before = makeEvents('failover-before', 10);
    const beforeOutcomes = await provider.run(before, { ratePerSecond: 20, concurrency: 4 });
    const warm = await settle({ scenario: 'before the failover', stack, events: before, outcomes: beforeOutcomes, provider, startedAt });
    expect(warm).toMatchObject({ delivered: 10, lost: 0 });

    // The failover: the replica (in sync) is promoted, the old primary follows it, the endpoint points at the new one.
    await command(replica.port, 'REPLICAOF', 'NO', 'ONE');
    await command(stack.redis.port, 'REPLICAOF', '127.0.0.1', String(replica.port));
    endpoint.targetPort = replica.port;
    await waitFor('the old primary following the new one', async () =>
      String(await command(stack.redis.port, 'INFO', 'replication')).includes('master_link_status:up'),
    );

    const after = makeEvents('failover-after', 20);
    const outcomes = await provider.run(after, { ratePerSecond: 20, concurrency: 4 });
    await provider.close();
    const figures = await settle({ scenario: 'Redis failover (old primary read-only)', stack, events: after, outcomes, provider, startedAt }, { timeoutMs: 60_000 });
    reportFigures(figures);
    const health = (await (await fetch(`${worker.baseUrl}/health`)).json()) as { details: { redis: { status: string } } };
    const readOnlyErrors = [...ingress.jsonLogs(), ...worker.jsonLogs()].filter((line) => JSON.stringify(line).includes('READONLY')).length;
    if (figures.lost > 0) console.log(await stack.diagnose(), { workerRedisHealth: health.details.redis.status, readOnlyErrors });

    expect(provider.summary().byStatus).toEqual({ 202: 30 });
    expect(figures).toMatchObject({ sent: 20, accepted: 20, stored: 20, delivered: 20, deliveredTwice: 0, lost: 0, unfinished: 0 });
  });
});
