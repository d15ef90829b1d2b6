import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Router } from 'express';
import type { Dispatcher } from 'undici';
import { adminRouter } from '../admin/admin-router.js';
import { EventAdminService } from '../admin/event-admin-service.js';
import { EventWriter } from '../ingress/ingest/event-writer.js';
import { webhookRouter } from '../ingress/ingest/webhook-router.js';
import { createProviderRegistry } from '../ingress/verification/provider-registry.js';
import { loadProvidersFile } from '../ingress/verification/providers-file.js';
import type { Config } from '../shared/config/config.js';
import { createDataSource, poolOf } from '../shared/database/data-source.js';
import { runMigrations } from '../shared/database/run-migrations.js';
import { waitUntilReachable } from '../shared/startup/wait-until-reachable.js';
import { registerConfiguredSecrets } from '../shared/logging/configured-secrets.js';
import { createLogger } from '../shared/logging/logger.js';
import { QueueDepthGauge } from '../shared/metrics/queue-depth-gauge.js';
import { initialiseServiceMetrics } from '../shared/metrics/service-metrics.js';
import { EventQueue } from '../shared/queue/event-queue.js';
import { createRedisConnection } from '../shared/queue/redis-connection.js';
import { HttpForwarder } from '../worker/delivery/http-forwarder.js';
import { EventWorker } from '../worker/event-worker.js';
import { Reconciler } from '../worker/maintenance/reconciler.js';
import { Retention } from '../worker/maintenance/retention.js';
import { EventHandlerRegistry } from '../worker/processing/event-handlers.js';
import { EventProcessor } from '../worker/processing/event-processor.js';
import { ProcessingStore } from '../worker/processing/processing-store.js';
import { RouteTable } from '../worker/routing/route-table.js';
import { loadRoutesFile } from '../worker/routing/routes-file.js';
import { PodDeletionCostReporter } from '../worker/scaling/pod-deletion-cost.js';
import { createHttpApp } from './http-app.js';

/** Extension points for embedding and tests. */
export interface ServiceExtensions {
  /** In-process handlers run by the worker next to HTTP forwarding. */
  handlers?: EventHandlerRegistry;
  /** Dispatcher for fetching PayPal certificates (a test's own CA). */
  paypalDispatcher?: Dispatcher;
}

/** A started service: its address, and the one way to stop it. */
export interface RunningService {
  readonly address: AddressInfo;
  readonly role: Config['role'];
  /** Drains and closes everything; see {@link Service.shutdown}. */
  shutdown(): Promise<void>;
  isShuttingDown(): boolean;
}

function waitForReady(connection: { status: string; once(event: 'ready', listener: () => void): unknown }, timeoutMs: number): Promise<void> {
  if (connection.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    connection.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const hasIngress = (role: Config['role']) => role === 'all' || role === 'ingress';
const hasWorker = (role: Config['role']) => role === 'all' || role === 'worker';

/**
 * Builds and starts the parts a role needs, in the order an event meets them: HTTP ingress (verify → store →
 * enqueue), then the worker (process → deliver), then the maintenance timers. Every role serves health and metrics.
 */
export async function startService(config: Config, extensions: ServiceExtensions = {}): Promise<RunningService> {
  const logger = createLogger('service');
  const role = config.role;
  let shuttingDown = false;

  // Configuration that can be wrong is read before anything connects, so a bad file stops the start at once.
  const providers = hasIngress(role)
    ? createProviderRegistry({
        stripeSecrets: config.providers.stripeSecrets,
        githubSecrets: config.providers.githubSecrets,
        paypal: config.providers.paypal ? { ...config.providers.paypal, dispatcher: extensions.paypalDispatcher } : undefined,
        providersFile: config.providers.providersFile,
        toleranceSeconds: config.providers.toleranceSeconds,
      })
    : undefined;
  // Every role reads both files: a client can echo any configured secret into any role's log lines (a path, a
  // correlation id), so every role registers all of them with the redactor, before it serves a request.
  const routesFile = config.routesFile ? loadRoutesFile(config.routesFile) : undefined;
  const providerDefinitions = config.providers.providersFile ? loadProvidersFile(config.providers.providersFile) : undefined;
  registerConfiguredSecrets(config, { providers: providerDefinitions, routes: routesFile });
  const routes = hasWorker(role) ? new RouteTable(routesFile) : undefined;

  // A fresh install starts the app before PostgreSQL accepts connections: wait for it (a log line per retry) within
  // STARTUP_WAIT_MS, which the chart keeps inside its startup probe's budget, rather than crash-loop.
  const waitBudgetMs = config.startupWaitMs;
  if (role === 'all') await runMigrations({ url: config.database.url, logger: createLogger('migrations'), waitForDatabaseMs: waitBudgetMs });
  const dataSource = await waitUntilReachable(
    async () => {
      const source = createDataSource({ url: config.database.url, poolSize: config.database.poolSize, applicationName: `webhooks-${role}` });
      try {
        return await source.initialize();
      } catch (error) {
        await source.destroy().catch(() => undefined);
        throw error;
      }
    },
    { what: 'database', budgetMs: waitBudgetMs, logger },
  );
  const pool = poolOf(dataSource);

  const redisLogger = createLogger('redis');
  let redisDown = false;
  const onRedisError = (error: Error) => {
    if (!redisDown) redisLogger.warn('redis connection error', { error });
    redisDown = true;
  };
  const producerConnection = createRedisConnection(config.redis, 'producer', onRedisError);
  producerConnection.on('ready', () => {
    if (redisDown) redisLogger.info('redis connection restored');
    redisDown = false;
  });
  // Give Redis a moment at start so the first webhooks are enqueued at once; if it is down, start anyway
  // (events wait in PENDING for the reconciler) rather than refuse webhooks.
  await waitForReady(producerConnection, 5000);
  const queue = new EventQueue({
    connection: producerConnection,
    name: config.queue.name,
    prefix: config.queue.prefix,
    attempts: config.queue.attempts,
    backoffMs: config.queue.backoffMs,
    logger: createLogger('queue'),
  });
  new QueueDepthGauge(config.queue.name, queue);

  // Ingress: webhooks in, admin API for operators.
  const routers: Router[] = [];
  let writer: EventWriter | undefined;
  if (providers) {
    writer = new EventWriter({ pool });
    routers.push(
      webhookRouter({
        providers,
        writer,
        queue,
        maxBodyBytes: config.http.maxBodyBytes,
        verificationFailureLimitPerMinute: config.http.verificationFailureLimitPerMinute,
        logger: createLogger('ingress'),
      }),
      adminRouter({ token: config.adminApiToken, events: new EventAdminService(dataSource, queue, createLogger('admin')) }),
    );
  }

  // Worker: process and deliver, then keep the books straight.
  let worker: EventWorker | undefined;
  let workerConnection: ReturnType<typeof createRedisConnection> | undefined;
  let forwarder: HttpForwarder | undefined;
  let reconciler: Reconciler | undefined;
  let retention: Retention | undefined;
  let podCost: PodDeletionCostReporter | undefined;
  if (routes) {
    const workerLogger = createLogger('worker');
    // One lane per destination, as wide as the jobs this worker runs at once (unless a destination sets maxConcurrency).
    forwarder = new HttpForwarder({ defaultTimeoutMs: config.worker.deliveryTimeoutMs, defaultMaxConcurrency: config.worker.concurrency });
    const processor = new EventProcessor({
      store: new ProcessingStore(pool, { logger: workerLogger }),
      routes,
      handlers: extensions.handlers ?? new EventHandlerRegistry(),
      forwarder,
      maxAttempts: config.queue.attempts,
      logger: workerLogger,
    });
    // Validated settings, not the raw environment; only "are we in a cluster" comes from Kubernetes itself.
    podCost = PodDeletionCostReporter.fromEnvironment(
      {
        KUBERNETES_SERVICE_HOST: process.env.KUBERNETES_SERVICE_HOST,
        POD_NAME: config.kubernetes.podName,
        POD_NAMESPACE: config.kubernetes.podNamespace,
        POD_DELETION_COST_ENABLED: String(config.kubernetes.podDeletionCostEnabled),
      },
      { logger: createLogger('pod-deletion-cost') },
    );
    workerConnection = createRedisConnection(config.redis, 'worker', onRedisError);
    worker = new EventWorker({
      connection: workerConnection,
      queueName: config.queue.name,
      prefix: config.queue.prefix,
      concurrency: config.worker.concurrency,
      lockDurationMs: config.worker.lockDurationMs,
      stalledIntervalMs: config.worker.stalledIntervalMs,
      processor,
      logger: workerLogger,
      onActiveJobsChange: (active) => podCost?.setActiveJobs(active),
    });
    worker.start();
    reconciler = new Reconciler({ pool, queue, intervalMs: config.reconciler.intervalMs, staleMs: config.reconciler.staleMs, logger: createLogger('reconciler') });
    reconciler.start();
    retention = new Retention({ pool, completedDays: config.retention.completedDays, intervalMs: config.retention.intervalMs, logger: createLogger('retention') });
    retention.start();
  }

  // Known label sets at 0, role and worker gauges, unfinished events: before the first scrape can happen.
  initialiseServiceMetrics({ config, pool, ingressProviders: providers?.names(), providerDefinitions, routesFile, runsWorker: worker !== undefined });

  const app = createHttpApp({
    logger: createLogger('http'),
    trustProxy: config.http.trustProxy,
    routers,
    health: {
      checks: {
        database: async () => void (await pool.query('SELECT 1')),
        redis: async () => void (await producerConnection.ping()),
      },
      // The ingress keeps answering 202 while Redis is down (events wait in PENDING), so Redis does not gate it.
      readinessChecks: hasWorker(role) ? ['database', 'redis'] : ['database'],
      maxHeapMb: config.health.maxHeapMb,
      isShuttingDown: () => shuttingDown,
    },
  });
  const server: Server = createServer(app);
  server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeout
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  // Once draining, no response keeps its connection alive: clients on keep-alive connections would otherwise go on
  // sending to a draining server, and server.close() would wait for them until SHUTDOWN_TIMEOUT_MS forced exit 1.
  server.prependListener('request', (_req, res) => {
    if (shuttingDown) res.setHeader('Connection', 'close');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  logger.info('service started', { role, port: address.port, providers: providers?.names() ?? [] });

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = () =>
    (shutdownPromise ??= (async () => {
      shuttingDown = true;
      logger.info('shutting down: readiness is now 503, draining');
      // 1. The worker takes no new jobs and lets the running ones finish. The listener stays open meanwhile, so
      //    probes see readiness 503 (a closed port would only refuse them) and endpoints drop the pod.
      await worker?.close();
      // 2. Stop accepting connections; requests in flight finish (idle keep-alive sockets close now).
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Keep-alive connections whose request was in flight at the signal go idle later; close them as they do.
      const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
      await serverClosed;
      clearInterval(idleSweep);
      // 3. Inserts and enqueues already started complete, so every 2xx given is backed by a row (and a job).
      await writer?.drain();
      await reconciler?.stop();
      await retention?.stop();
      await podCost?.close();
      await forwarder?.close();
      await queue.close();
      workerConnection?.disconnect();
      producerConnection.disconnect();
      await dataSource.destroy();
      logger.info('shutdown complete');
    })());

  return { address, role, shutdown, isShuttingDown: () => shuttingDown };
}
