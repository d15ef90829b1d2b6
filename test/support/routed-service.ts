import type { ServiceExtensions } from '../../services/runtime/service.js';
import { writeRoutesFile, type RoutesDocument, type TempRoutesFile } from './routes-file.js';
import { startInProcessService, type InProcessService } from './service-harness.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from './test-redis.js';

/**
 * An in-process service (SERVICE_ROLE all: ingress and worker) that delivers by a ROUTES_FILE, on a database and a
 * queue namespace of its own: what the tests of routing and of what a destination's answers make of an event start.
 * `env` adds the provider secrets, JOB_ATTEMPTS, JOB_BACKOFF_MS and the like. `stop()` stops the service, then removes
 * the routes file, the queue namespace and the database, in that order.
 */
export interface RoutedService {
  db: TestDatabase;
  ns: TestQueueNamespace;
  routesFile: TempRoutesFile;
  app: InProcessService;
  stop(): Promise<void>;
}

export async function startRoutedService(routes: RoutesDocument, env: Record<string, string>, extensions?: ServiceExtensions): Promise<RoutedService> {
  const db = await createTestDatabase();
  const ns = createQueueNamespace();
  const routesFile = writeRoutesFile(routes);
  const removeRest = async () => {
    routesFile.remove();
    await ns.cleanup();
    await db.drop();
  };
  let app: InProcessService;
  try {
    app = await startInProcessService(
      { SERVICE_ROLE: 'all', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, ROUTES_FILE: routesFile.path, ...env },
      extensions,
    );
  } catch (error) {
    // A start some tests expect to be refused: what was made for it is removed before the error reaches the test.
    await removeRest();
    throw error;
  }
  return {
    db,
    ns,
    routesFile,
    app,
    async stop() {
      await app.stop();
      await removeRest();
    },
  };
}
