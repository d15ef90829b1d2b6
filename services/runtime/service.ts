import type { AddressInfo } from 'node:net';
import proxyaddr from 'proxy-addr';
import type { Dispatcher } from 'undici';
import { RedisPaypalCertificateStore } from '../ingress/verification/paypal-certificate-store.js';
import { createProviderRegistry } from '../ingress/verification/provider-registry.js';
import { noProvidersWarning } from '../ingress/verification/no-providers-warning.js';
import { loadProvidersFile, providerKeptHeaders } from '../ingress/verification/providers-file.js';
import type { Config } from '../shared/config/config.js';
import { runMigrations } from '../shared/database/run-migrations.js';
import { SchemaCheck } from '../shared/database/schema-check.js';
import { warnPausedAtStart } from '../shared/destinations/paused-at-start.js';
import { registerConfiguredSecrets } from '../shared/logging/configured-secrets.js';
import { createLogger } from '../shared/logging/logger.js';
import { StartDeadline } from '../shared/startup/start-deadline.js';
import { DependencyGauge } from '../shared/metrics/dependency-gauge.js';
import { initialiseServiceMetrics } from '../shared/metrics/service-metrics.js';
import type { EventHandlerRegistry } from '../worker/processing/event-handlers.js';
import { RouteTable } from '../worker/routing/route-table.js';
import { loadRoutesFile } from '../worker/routing/routes-file.js';
import { createHttpApp } from './http-app.js';
import { WebhookFastPath } from './webhook-fast-path.js';
import { DependencyCheckFailureLog } from '../shared/health/dependency-check-failure-log.js';
import { redisWriteCheck } from '../shared/health/redis-write-check.js';
import { TerminationNotice } from '../shared/health/termination-notice.js';
import { DEFAULT_DRAIN_GRACE_MS, listen, type HTTP_TIMEOUTS } from './http-server.js';
import { connectInfrastructure } from './infrastructure.js';
import { startIngress, type IngressRole } from './ingress-role.js';
import { startWorker, type WorkerRole } from './worker-role.js';

/** Extension points for embedding and tests. */
export interface ServiceExtensions {
  /** In-process handlers run by the worker next to HTTP forwarding. */
  handlers?: EventHandlerRegistry;
  /** Dispatcher for fetching PayPal certificates (a test's own CA). */
  paypalDispatcher?: Dispatcher;
  /** The listener's limits on a client, where not HTTP_TIMEOUTS (a test's short write-stall bound). */
  httpTimeouts?: Partial<typeof HTTP_TIMEOUTS>;
  /**
   * Stops the start while it waits for PostgreSQL (STARTUP_WAIT_MS), with StartAbortedError: a shutdown signal
   * before the service runs. Once the waits are over the start completes, and its caller drains it.
   */
  abortStart?: AbortSignal;
}

/** A started service: its address, and the one way to stop it. */
export interface RunningService {
  readonly address: AddressInfo;
  readonly role: Config['role'];
  /** Drains and closes everything, in the order written in {@link startService}; idempotent. */
  shutdown(): Promise<void>;
  isShuttingDown(): boolean;
}

const hasIngress = (role: Config['role']) => role === 'all' || role === 'ingress';
const hasWorker = (role: Config['role']) => role === 'all' || role === 'worker';

/**
 * Starts a role: `ingress` (webhooks, admin API, console), `worker` (processing, reconciler, retention), or `all`,
 * their sum in one process (which also applies the migrations). Every role serves health and metrics.
 */
export async function startService(config: Config, extensions: ServiceExtensions = {}): Promise<RunningService> {
  const logger = createLogger('service');
  const { role } = config;
  // Every wait of this start (PostgreSQL, the migrations' locks, Redis) ends by one moment: STARTUP_WAIT_MS from now.
  const deadline = new StartDeadline(config.startupWaitMs);
  let shuttingDown = false;

  // PayPal certificates that verified a signature, shared by every ingress through Redis (connected further down).
  const paypalCertificates =
    hasIngress(role) && config.providers.paypal
      ? new RedisPaypalCertificateStore({ keyPrefix: `${config.queue.prefix}:${config.queue.name}:paypal-certificates` })
      : undefined;
  // Configuration that can be wrong is read before anything connects, so a bad file stops the start at once. Every
  // role reads both files: a client can echo any configured secret into any role's log lines (a path, a correlation
  // id), so every role registers all of them with the redactor before it serves a request.
  const providers = hasIngress(role)
    ? createProviderRegistry({
        stripeSecrets: config.providers.stripeSecrets,
        githubSecrets: config.providers.githubSecrets,
        paypal: config.providers.paypal
          ? { ...config.providers.paypal, dispatcher: extensions.paypalDispatcher, certificateStore: paypalCertificates }
          : undefined,
        providersFile: config.providers.providersFile,
        toleranceSeconds: config.providers.toleranceSeconds,
      })
    : undefined;
  // An ingress without providers answers every webhook 404: said at start, not found out from the senders' failures.
  const noProviders = providers ? noProvidersWarning(providers.names()) : undefined;
  if (noProviders) logger.warn(noProviders);
  const providerDefinitions = config.providers.providersFile ? loadProvidersFile(config.providers.providersFile) : undefined;
  // Route filters may read the headers an hmac provider's events are identified by (the ingress keeps them too).
  const routesFile = config.routesFile ? loadRoutesFile(config.routesFile, { providerHeaders: providerKeptHeaders(providerDefinitions ?? []) }) : undefined;
  registerConfiguredSecrets(config, { providers: providerDefinitions, routes: routesFile });
  // A transform sends at most the largest body the service accepts (what a plain forward sends at most).
  const routes = hasWorker(role) ? new RouteTable(routesFile, { transformOutputBytes: config.http.maxBodyBytes }) : undefined;

  // The all-in-one process migrates first, waiting for PostgreSQL, then for what other sessions hold (a table lock, the
  // older transactions an index build waits out, another process's migrations) like the rest of the start: all within
  // the start's one STARTUP_WAIT_MS, so it fails with a line saying what it waited for before the startup probe
  // (derived to outlast STARTUP_WAIT_MS + 60 s) kills it with none; a signal cancels the statement under way and
  // stops the start.
  if (role === 'all') {
    await runMigrations({ url: config.database.url, logger: createLogger('migrations'), deadline, abort: extensions.abortStart });
  }
  const infrastructure = await connectInfrastructure(config, logger, deadline, extensions.abortStart);
  paypalCertificates?.use(infrastructure.redis);
  // A destination paused, removed from ROUTES_FILE, then added back is paused again: said here, not found out later.
  // Not awaited: the start never waits on it (a migration running elsewhere may hold the pauses' tables).
  void warnPausedAtStart(infrastructure.pool, Object.keys(routesFile?.destinations ?? {}), createLogger('destinations'));

  const ingress: IngressRole | undefined = providers
    ? await startIngress({ config, providers, routesFile, infrastructure })
    : undefined;
  const worker: WorkerRole | undefined = routes
    ? startWorker({ config, routes, handlers: extensions.handlers, infrastructure })
    : undefined;

  // Known label sets at 0, role and worker gauges, unfinished events: before the first scrape can happen. No await
  // since startWorker: the histograms' zero() would reset a duration a job already observed.
  initialiseServiceMetrics({
    config,
    pool: infrastructure.pool,
    ingressProviders: providers?.names(),
    // Names only (shared metrics import no role's types); a route for `*` names no provider. In-process handlers are
    // destinations too (`handler:<name>`), and the providers they are registered for ones whose events a worker sees.
    fileProviders: [
      ...(providerDefinitions ?? []).filter((definition) => definition.secrets.length > 0).map((definition) => definition.name),
      ...(routesFile?.routes ?? []).map((route) => route.provider).filter((provider) => provider !== '*'),
      ...(worker ? (extensions.handlers?.providers() ?? []) : []),
    ],
    destinations: Object.keys(routesFile?.destinations ?? {}),
    handlerDestinations: worker ? (extensions.handlers?.destinationNames() ?? []) : [],
    runsWorker: worker !== undefined,
  });

  // The preStop announcement, shared by the Express app and the webhooks' direct path (both close connections from then on).
  const terminationNotice = new TerminationNotice();
  const checks = {
    // Not ready before the migrations have run, rather than ready and failing every webhook.
    database: new SchemaCheck(infrastructure.pool).check,
    // Up only when Redis takes a write: a read-only replica or a Redis out of memory answers PING and queues nothing.
    redis: redisWriteCheck(infrastructure.redis, `${config.queue.prefix}:${config.queue.name}:health-check`),
  };
  // /health shows a failed check's category only (anyone reaching the port reads it); its full error is logged here.
  const checkFailures = new DependencyCheckFailureLog(createLogger('health'));
  // webhook_dependency_up: what the checks found, which readiness alone does not say (it is 503 while draining too).
  const dependencies = new DependencyGauge(checks, { onFailure: checkFailures.note });
  const app = createHttpApp({
    terminationNotice,
    preStopToken: config.preStopToken,
    logger: createLogger('http'),
    trustProxy: config.http.trustProxy,
    routers: ingress?.routers ?? [],
    health: {
      checks,
      // The ingress keeps answering 202 while Redis is down or refuses writes (events wait in PENDING), so Redis does
      // not gate it; a worker without a Redis that takes writes can take no job.
      readinessChecks: worker ? ['database', 'redis'] : ['database'],
      maxHeapMb: config.health.maxHeapMb,
      isShuttingDown: () => shuttingDown,
      onCheck: dependencies.record,
      onFailure: checkFailures.note,
    },
  });
  // Webhooks that need nothing of Express take the direct path; everything else, and every refusal, is Express's.
  const listener =
    ingress && providers
      ? new WebhookFastPath({
          providers,
          receiver: ingress.receiver,
          maxBodyBytes: config.http.maxBodyBytes,
          fallback: app,
          isTerminating: () => shuttingDown || terminationNotice.isActive(),
          // What Express's `req.ip` computes (express/lib/request.js), with the app's compiled TRUST_PROXY.
          clientAddress: (req) => proxyaddr(req, app.get('trust proxy fn') as (address: string, hop: number) => boolean),
          bodyBudget: ingress.bodyBudget,
          logger: createLogger('http'),
        }).listener
      : app;
  const server = await listen(listener, { port: config.http.port, host: config.http.host, isDraining: () => shuttingDown, logger: createLogger('http'), timeouts: extensions.httpTimeouts });
  logger.info('service started', { role, port: server.address.port, providers: providers?.names() ?? [] });

  let drained: Promise<void> | undefined;
  const shutdown = () =>
    (drained ??= (async () => {
      shuttingDown = true;
      // Answers to the requests in flight close their connections (those to later requests do, seeing shuttingDown).
      server.endKeepAlive();
      logger.info('shutting down: readiness is now 503, draining');
      // 1. The worker takes no new jobs and lets the running ones finish. The listener stays open meanwhile, so
      //    probes see readiness 503 (a closed port would only refuse them) and endpoints drop the pod.
      await worker?.stopTakingJobs();
      // 2. No new connections; requests in flight finish. A client still sending its request after a grace period
      //    (a fifth of SHUTDOWN_TIMEOUT_MS, at most 5 s) is cut off, so it cannot hold the drain until the forced exit.
      await server.close(Math.min(DEFAULT_DRAIN_GRACE_MS, config.shutdownTimeoutMs / 5));
      // 3. Inserts and enqueues already started complete, so every 2xx given is backed by a row (and a job).
      await ingress?.drain();
      // 4. Timers and clients of each role, then what they all used: the queue, Redis and the pool.
      await worker?.close();
      await ingress?.close();
      await infrastructure.close();
      logger.info('shutdown complete');
    })());

  return { address: server.address, role, shutdown, isShuttingDown: () => shuttingDown };
}
