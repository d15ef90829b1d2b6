import type { ServiceExtensions } from '../../services/runtime/service.js';
import { startInProcessService, type InProcessService } from './service-harness.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from './test-redis.js';

/**
 * An ingress (SERVICE_ROLE ingress) running inside the test process on a database and a queue namespace of its own:
 * what a test of the HTTP edge or of signature checks sends its requests to. `stop()` stops the service, then removes
 * the queue namespace and drops the database.
 */
export interface InProcessIngress extends InProcessService {
  db: TestDatabase;
  ns: TestQueueNamespace;
}

/** Starts it with `env` over the database and queue settings (a provider's secret, limits, LOG_LEVEL…). */
export async function startInProcessIngress(env: Record<string, string | undefined>, extensions?: ServiceExtensions): Promise<InProcessIngress> {
  const db = await createTestDatabase();
  const ns = createQueueNamespace();
  const removeStores = async () => {
    await ns.cleanup();
    await db.drop();
  };
  let app: InProcessService;
  try {
    app = await startInProcessService({ SERVICE_ROLE: 'ingress', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, ...env }, extensions);
  } catch (error) {
    await removeStores();
    throw error;
  }
  return {
    ...app,
    db,
    ns,
    async stop() {
      await app.stop();
      await removeStores();
    },
  };
}
