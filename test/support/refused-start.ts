import { freePort, ServiceProcess } from './service-process.js';
import type { TestDatabase } from './test-database.js';
import type { TestQueueNamespace } from './test-redis.js';

/**
 * Starts a worker process (dist/) on `routesFilePath`, a ROUTES_FILE its start is expected to refuse, and waits up to
 * 20 s for it to exit; the process is killed whatever happens. Its queue prefix is `ns.prefix` + `-bad`, so it takes
 * no job of the test's own service even if it does start. Returns how it exited and everything it printed, for the
 * test to check the exit code and the line naming the problem.
 */
export async function startRefusedWorker(
  db: TestDatabase,
  ns: TestQueueNamespace,
  routesFilePath: string,
): Promise<{ code: number | null; logs: string[] }> {
  const service = new ServiceProcess(
    { SERVICE_ROLE: 'worker', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: `${ns.prefix}-bad`, ROUTES_FILE: routesFilePath },
    await freePort(),
  );
  try {
    await service.start({ waitForReady: false });
    // A deadline, not a bound on the start's speed: a refused start exits within a second or two on a quiet machine,
    // but a node process's start alone took 6 s at a load average of 23.
    const { code } = await service.exited(50_000);
    return { code, logs: service.logs };
  } finally {
    await service.kill();
  }
}
