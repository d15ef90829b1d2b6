import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { freePort } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { one, podSpecOf, renderChart } from './helm.js';

/**
 * The bundled Redis runs with `maxmemory-policy noeviction` and `appendonly yes` (right for BullMQ) but, by default,
 * no `maxmemory`, inside a container limited to 512Mi. Nothing then stops the dataset at the limit: a backlog (workers
 * down, a paused destination, KEDA not scaling) grows Redis until the kernel OOM-kills it (sooner during an AOF
 * rewrite, whose fork's copied pages count against the same cgroup). On restart Redis replays the same AOF into the same
 * limit and is killed again: a crash loop that stops every delivery until someone raises the limit by hand. Each waiting
 * job costs ~940 bytes (EventQueue, measured on redis-server 7.0), so 512Mi is reached at ~570k queued events.
 * With a maxmemory below the limit Redis answers the enqueue with an OOM error instead: the ingress keeps the event
 * PENDING for the reconciler, Redis stays up, and the workers go on draining the queue.
 */

const servers: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(
    servers.map((server) => (server.exitCode !== null || server.signalCode !== null ? undefined : new Promise((resolve) => server.once('exit', resolve).kill('SIGKILL')))),
  );
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const BYTES: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9, '': 1 };
const quantityBytes = (quantity: string) => {
  const [, number, unit] = /^([0-9.]+)([A-Za-z]*)$/.exec(quantity)!;
  return Number(number) * BYTES[unit!]!;
};

describe('the bundled Redis (defaults)', () => {
  it('is bounded by a maxmemory below its container memory limit, so a backlog is refused (OOM reply), not OOM-killed into a crash loop', async () => {
    const statefulSet = one(renderChart([]), 'StatefulSet', '-redis');
    const container = podSpecOf(statefulSet).containers[0];
    const limitBytes = quantityBytes(container.resources.limits.memory);

    // Run redis-server with exactly the arguments the chart renders (the data directory moved to a temp dir).
    const dir = mkdtempSync(path.join(tmpdir(), 'chart-redis-'));
    dirs.push(dir);
    const args: string[] = (container.args as string[]).map((arg, index, all) => (all[index - 1] === '--dir' ? dir : arg));
    const port = await freePort();
    const server = spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1'], { stdio: 'ignore' });
    servers.push(server);
    await waitFor('redis-server with the chart args', async () => {
      const probe = new Redis(`redis://127.0.0.1:${port}/0`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        return (await probe.connect().then(() => probe.ping()).catch(() => undefined)) === 'PONG';
      } finally {
        probe.disconnect();
      }
    });
    const client = new Redis(`redis://127.0.0.1:${port}/0`, { maxRetriesPerRequest: 1 });
    try {
      const [, policy] = (await client.config('GET', 'maxmemory-policy')) as [string, string];
      const [, maxmemory] = (await client.config('GET', 'maxmemory')) as [string, string];
      expect(policy).toBe('noeviction');
      // 0 is "no limit": Redis grows past the container's limit and the kernel kills it.
      expect({ maxmemory: Number(maxmemory), set: Number(maxmemory) > 0 }).toEqual({ maxmemory: Number(maxmemory), set: true });
      // Headroom for the AOF rewrite fork, buffers and the allocator: well under the container limit.
      expect(Number(maxmemory)).toBeLessThanOrEqual(limitBytes * 0.8);
    } finally {
      client.disconnect();
    }
  });
});
