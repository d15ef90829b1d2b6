/**
 * A developer's first start often has no Redis (`REDIS_URL=redis://localhost:6390 scripts/start.sh all`, nothing
 * listening). The service starts (readiness 503), says so once rather than once a second, and Ctrl-C (SIGINT) or
 * SIGTERM ends it promptly with exit 0, as the README's Shutdown section says: BullMQ's graceful close of the worker
 * used to wait for a Redis connection that never came, until SHUTDOWN_TIMEOUT_MS forced exit 1.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

let db: TestDatabase;
const started: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  for (const service of started) await service.kill();
  await db?.drop();
});

describe('Redis unreachable', () => {
  it.each([
    ['all', 'SIGINT'],
    ['worker', 'SIGTERM'],
  ] as const)('role %s starts, logs the Redis errors rate-limited, and %s ends it promptly with exit 0', async (role, signal) => {
    // A port nothing listens on: connections are refused at once, and retried for as long as the process runs.
    const redisPort = await freePort();
    const service = new ServiceProcess(
      {
        SERVICE_ROLE: role,
        DATABASE_URL: db.url,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        QUEUE_PREFIX: `redis-unreachable-${role}`,
        POD_DELETION_COST_ENABLED: 'false',
      },
      await freePort(),
    );
    started.push(service);
    await service.start();
    expect((await fetch(`${service.baseUrl}/health/ready`)).status).toBe(503);
    // The clients retry about every 2 s each; BullMQ's two connections used to log a warning (with a stack) for
    // every attempt.
    const startedAt = Date.now();
    await waitFor('the service to log its start', () => service.jsonLogs().some((line) => line.message === 'service started'), { timeoutMs: 30_000 });
    // Let at least 6 s of retries pass (about three per client). A timer's 6000 ms can read as 5999 on Date.now, so
    // wait on the clock itself rather than on one timer.
    while (Date.now() - startedAt < 6000) await new Promise((resolve) => setTimeout(resolve, 6000 - (Date.now() - startedAt) + 1));
    const workerErrors = () => service.jsonLogs().filter((line) => line.message === 'worker connection error');
    expect(workerErrors()).toHaveLength(1);

    const signalledAt = Date.now();
    service.signal(signal);
    const { code } = await service.exited(20_000);
    const tookMs = Date.now() - signalledAt;
    expect({ code, lines: service.jsonLogs().filter((line) => line.level === 'error').map((line) => line.message) }).toEqual({ code: 0, lines: [] });
    expect(service.jsonLogs().some((line) => line.message === 'shutdown complete')).toBe(true);
    // SHUTDOWN_TIMEOUT_MS is 25 s and its forced exit is code 1 (checked above); a drain with nothing in flight and
    // Redis away ends well before that timeout. The bound is the timeout, not a speed target, so load cannot flake it.
    expect(tookMs).toBeLessThan(20_000);
    // What was held back while Redis was away is summed up in one line (with the count) when the worker closes.
    const summary = workerErrors().at(-1)!;
    expect(workerErrors()).toHaveLength(2);
    expect(summary.count).toBeGreaterThanOrEqual(2);
  }, 90_000);
});
