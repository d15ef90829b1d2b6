/**
 * The rate limit with Redis a network round trip of 60 ms away (another zone, a managed Redis behind a proxy), under
 * no load. A reservation whose answer came back more than 50 ms after it was asked for was given back and asked for
 * again, to keep a late send from bunching with the next second's (an answer held up in a busy event loop). The
 * round trip itself counted as lateness: every reservation was given back, three times, and the delivery waited
 * (`rate limited`) with nothing sent; its job came back and did the same, for ever. The destination got nothing.
 * Only lateness beyond the usual round trip is given back.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { DeliveryDeferred, DestinationGuard } from '../../services/worker/delivery/destination-guard.js';
import type { DestinationPauses } from '../../services/shared/destinations/destination-pauses.js';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

/** Each way: a round trip of 60 ms. */
const ONE_WAY_MS = 30;

/** A TCP proxy that delays every byte by {@link ONE_WAY_MS} in each direction (in order). */
async function delayingProxy(host: string, port: number): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host, port });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('data', (chunk) => setTimeout(() => upstream.write(chunk), ONE_WAY_MS));
    upstream.on('data', (chunk) => setTimeout(() => client.write(chunk), ONE_WAY_MS));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let ns: TestQueueNamespace;
let direct: Redis;
let distant: Redis;
let proxy: Awaited<ReturnType<typeof delayingProxy>>;
let state: DestinationStateStore;
let guard: DestinationGuard;

beforeAll(async () => {
  ns = createQueueNamespace();
  const url = new URL(ns.redisUrl);
  proxy = await delayingProxy(url.hostname, Number(url.port || 6379));
  const db = Number(url.pathname.slice(1) || 0);
  direct = new Redis(ns.redisUrl);
  distant = new Redis({ host: '127.0.0.1', port: proxy.port, db, password: url.password || undefined, username: url.username || undefined });
  state = new DestinationStateStore(direct, `${ns.prefix}:webhook-events`);
  guard = new DestinationGuard({
    state,
    pauses: {} as DestinationPauses,
    redis: distant,
    probeLeaseMs: 30_000,
    promoteWaiting: async () => 0,
    logger: createLogger('test'),
  });
  // The connection is made (and its first round trips taken) before the test measures anything.
  await distant.ping();
});

afterAll(async () => {
  await guard?.close();
  distant?.disconnect();
  direct?.disconnect();
  await proxy?.close();
  await ns?.cleanup();
});

describe('the rate limit with Redis 60 ms away', () => {
  it('lets a delivery under the limit go, and still holds the limit', async () => {
    const destination = { name: 'far-rate', url: 'http://127.0.0.1:1/hook', policy: { rateLimit: { perSecond: 5 } } };
    // Nothing has been sent to this destination: the first send is well under 5 per second.
    await expect(guard.beforeSend(destination)).resolves.toBeUndefined();
    // Exactly one place taken for it (none left behind by reservations given back).
    expect(await direct.zcard(state.rateKey(destination.name))).toBe(1);
    // The limit still holds: 4 more go, the sixth within the window waits.
    const more = await Promise.allSettled(Array.from({ length: 5 }, () => guard.beforeSend(destination)));
    expect(more.filter((r) => r.status === 'fulfilled')).toHaveLength(4);
    const refused = more.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(DeliveryDeferred);
    expect((refused[0] as DeliveryDeferred).reason).toBe('rate_limited');
    expect(await direct.zcard(state.rateKey(destination.name))).toBe(5);
  });

  it('still gives back a reservation whose answer a busy event loop held up beyond the usual round trip', async () => {
    const near = new DestinationGuard({
      state,
      pauses: {} as DestinationPauses,
      redis: direct,
      probeLeaseMs: 30_000,
      promoteWaiting: async () => 0,
      logger: createLogger('test'),
    });
    const destination = { name: 'near-rate', url: 'http://127.0.0.1:1/hook', policy: { rateLimit: { perSecond: 100 } } };
    for (let i = 0; i < 3; i++) await near.beforeSend(destination);
    const [seconds, micros] = await direct.time();
    const before = Number(seconds) * 1_000_000 + Number(micros);
    // The request is written at once; its answer waits for the event loop, held 150 ms here.
    const sent = near.beforeSend(destination);
    const until = performance.now() + 150;
    while (performance.now() < until);
    await sent;
    const scores = (await direct.zrange(state.rateKey(destination.name), 0, -1, 'WITHSCORES')).filter((_, index) => index % 2 === 1).map(Number);
    // The late place was given back; the one kept was taken once the loop was free again.
    expect(scores).toHaveLength(4);
    expect(Math.max(...scores)).toBeGreaterThanOrEqual(before + 100_000);
    await near.close();
  });
});
