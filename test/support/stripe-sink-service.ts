import { HttpSink } from './http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from './routes-file.js';
import { freePort, ServiceProcess, type ServiceProcessOptions } from './service-process.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from './test-redis.js';

/**
 * A real all-in-one service process (SERVICE_ROLE all, run by tsx) on a database and a queue namespace of its own,
 * routing every Stripe event to one HttpSink destination (`${sink.url}/hooks`): the whole path ingress → queue →
 * worker → destination, for a test of what that process logs, traces or stores. The reconciler runs every 10 minutes
 * (RECONCILER_INTERVAL_MS), so it re-enqueues nothing during a test. `stop()` kills the process and removes the rest.
 */
export interface StripeSinkService {
  db: TestDatabase;
  ns: TestQueueNamespace;
  sink: HttpSink;
  routes: TempRoutesFile;
  service: ServiceProcess;
  stop(): Promise<void>;
}

export interface StripeSinkServiceSettings {
  /** Over the database, queue and routes settings: STRIPE_WEBHOOK_SECRET and whatever the test is about. */
  env: Record<string, string>;
  /** The destination's name in ROUTES_FILE (default `sink`). */
  destination?: string;
  /** The route's JSONata transform, if any. */
  transform?: string;
  options?: ServiceProcessOptions;
}

/** Starts it and waits until `/health/live` answers; if the start fails, removes what it made and throws. */
export async function startStripeSinkService({ env, destination = 'sink', transform, options }: StripeSinkServiceSettings): Promise<StripeSinkService> {
  const [db, sink] = await Promise.all([createTestDatabase(), new HttpSink().start()]);
  const ns = createQueueNamespace();
  const routes = writeRoutesFile({
    destinations: { [destination]: { url: `${sink.url}/hooks` } },
    routes: [{ provider: 'stripe', to: [destination], ...(transform === undefined ? {} : { transform }) }],
  });
  const service = new ServiceProcess(
    {
      SERVICE_ROLE: 'all',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      ROUTES_FILE: routes.path,
      RECONCILER_INTERVAL_MS: '600000',
      ...env,
    },
    await freePort(),
    options,
  );
  const stop = async () => {
    await service.kill();
    await sink.stop();
    await ns.cleanup();
    await db.drop();
    routes.remove();
  };
  try {
    await service.start();
  } catch (error) {
    await stop();
    throw error;
  }
  return { db, ns, sink, routes, service, stop };
}
