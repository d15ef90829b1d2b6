import type { Config } from '../shared/config/config.js';
import { DestinationPauses } from '../shared/destinations/destination-pauses.js';
import { DestinationStateStore } from '../shared/destinations/destination-state.js';
import { boundedWhenDraining, heldSummaries, promoteHeldJobs } from '../shared/destinations/held-events.js';
import { createLogger } from '../shared/logging/logger.js';
import { DestinationStateGauges } from '../shared/metrics/destination-protection-metrics.js';
import { workerConcurrency } from '../shared/metrics/metrics.js';
import { BrokerPublishers } from '../worker/delivery/broker-publishers.js';
import { DestinationGuard } from '../worker/delivery/destination-guard.js';
import { HttpForwarder } from '../worker/delivery/http-forwarder.js';
import { replacedStaticHeaders } from '../worker/delivery/replaced-static-headers.js';
import { StaleCircuits } from '../worker/delivery/stale-circuits.js';
import { EventWorker } from '../worker/event-worker.js';
import { longestRetryGap, retryBackoffOf } from '../worker/retry-backoff.js';
import { PauseResync } from '../worker/maintenance/pause-resync.js';
import { Reconciler } from '../worker/maintenance/reconciler.js';
import { ReconcilerTurns } from '../worker/maintenance/reconciler-turns.js';
import { RemovedDestinationRelease } from '../worker/maintenance/removed-destination-release.js';
import { Retention } from '../worker/maintenance/retention.js';
import { EventHandlerRegistry } from '../worker/processing/event-handlers.js';
import { ClaimHeartbeat, confirmClaimAfterMs, liveClaimWindowMs } from '../worker/processing/claim-heartbeat.js';
import { EventProcessor } from '../worker/processing/event-processor.js';
import { ProcessingStore } from '../worker/processing/processing-store.js';
import { RouteInputReader } from '../worker/routing/route-input-reader.js';
import type { RouteTable } from '../worker/routing/route-table.js';
import { PodDeletionCostReporter } from '../worker/scaling/pod-deletion-cost.js';
import { warnIfDeliveriesOutlastDrain } from './drain-outlasted-warning.js';
import type { Infrastructure } from './infrastructure.js';

/** The worker as started, and its two steps of the drain. */
export interface WorkerRole {
  /**
   * Takes no new jobs, starts no more deliveries (a job whose delivery waits for a destination's slot goes back to the
   * queue, no attempt used) and waits for the running ones to finish (their deliveries in flight and bookkeeping).
   */
  stopTakingJobs(): Promise<void>;
  /** Stops the maintenance timers and closes the delivery clients. */
  close(): Promise<void>;
}

export interface WorkerRoleOptions {
  config: Config;
  routes: RouteTable;
  /** In-process handlers run next to the destinations. */
  handlers?: EventHandlerRegistry;
  infrastructure: Infrastructure;
}

/** How often a worker checks Redis's copy of the paused destinations against PostgreSQL's record. */
const PAUSE_RESYNC_MS = 5000;

/** Jobs in, deliveries out (process → deliver → record), then the books kept straight: reconciler and retention. */
export function startWorker(options: WorkerRoleOptions): WorkerRole {
  const { config, infrastructure } = options;
  const { pool, queue } = infrastructure;
  const logger = createLogger('worker');
  // Pause, circuit breakers and rate limits: state every worker shares in Redis, under the queue's prefix; pauses
  // recorded in PostgreSQL. Read on the fail-fast connection: a delivery waits rather than hangs when Redis is down.
  const destinations = options.routes.allDestinations();
  for (const destination of destinations) {
    const replaced = replacedStaticHeaders(destination);
    if (replaced.length > 0) {
      logger.warn('static headers a delivery sets itself are never sent (the delivery\'s own value is); remove them from ROUTES_FILE', {
        destination: destination.name,
        headers: replaced,
      });
    }
  }
  warnIfDeliveriesOutlastDrain({ shutdownTimeoutMs: config.shutdownTimeoutMs, deliveryTimeoutMs: config.worker.deliveryTimeoutMs, destinations }, logger);
  const stateRedis = infrastructure.connectRedis('state');
  const state = new DestinationStateStore(stateRedis, `${config.queue.prefix}:${config.queue.name}`);
  const pauses = new DestinationPauses(pool, state);
  // Redis's copy of the pauses is checked against PostgreSQL every few seconds (see pause-resync.ts).
  const pauseResync = new PauseResync({
    pool,
    queue: queue.queue,
    pauses,
    destinations: destinations.map((destination) => destination.name),
    intervalMs: PAUSE_RESYNC_MS,
    logger,
  });
  pauseResync.start();
  // Events waiting for a destination this ROUTES_FILE no longer has are sent on, at start and a minute later.
  const removedRelease = new RemovedDestinationRelease({
    pool,
    queue: queue.queue,
    configured: new Set(destinations.map((destination) => destination.name)),
    logger,
  });
  removedRelease.start();
  // Circuits of destinations this ROUTES_FILE gives no breaker (turned off, or removed) are dropped, at start and a
  // minute later: turned on again, a breaker starts closed rather than with an earlier configuration's state.
  const staleCircuits = new StaleCircuits({
    state,
    withBreaker: new Set(destinations.filter((d) => d.policy?.circuitBreaker).map((d) => d.name)),
    logger: createLogger('destinations'),
  });
  staleCircuits.start();
  /** Set when the worker stops taking jobs: the promotions a drain waits for are bounded from then on. */
  let draining = false;
  const guard = new DestinationGuard({
    state,
    pauses,
    redis: stateRedis,
    // A probe's answer comes within its destination's timeout; after that (and a margin) another may probe.
    probeLeaseMs: Math.max(config.worker.deliveryTimeoutMs, ...destinations.map((d) => d.timeoutMs ?? 0)) + 30_000,
    // A circuit's close promotes every waiting event, unless the worker drains meanwhile (see boundedWhenDraining).
    promoteWaiting: (destination, limit) =>
      promoteHeldJobs(pool, queue.queue, destination, limit === undefined ? { stopping: boundedWhenDraining(() => draining) } : { limit }),
    logger: createLogger('destinations'),
  });
  new DestinationStateGauges({
    names: destinations.map((d) => d.name),
    withBreaker: new Set(destinations.filter((d) => d.policy?.circuitBreaker).map((d) => d.name)),
    read: (names) => state.read(names),
    held: () => heldSummaries(pool),
    recordedPauses: async () => (await pauses.snapshot()).names,
  });
  // One lane per destination, as wide as the jobs this worker runs at once (unless a destination sets maxConcurrency).
  const forwarder = new HttpForwarder({ defaultTimeoutMs: config.worker.deliveryTimeoutMs, defaultMaxConcurrency: config.worker.concurrency, beforeSend: guard.beforeSend });
  // RabbitMQ (amqp) and NATS JetStream (nats) destinations: one long-lived connection per broker URL, made on first use.
  const publishers = new BrokerPublishers({
    defaultTimeoutMs: config.worker.deliveryTimeoutMs,
    defaultMaxConcurrency: config.worker.concurrency,
    logger: createLogger('brokers'),
    beforeSend: guard.beforeSend,
    // NATS streams whose duplicate_window is shorter than the retries of one event are warned about (once each).
    longestRetryGapMs: longestRetryGap(retryBackoffOf({ opts: queue.jobOptions }), config.queue.attempts),
  });
  // Runs in progress longer than a few seconds say their worker is alive, so that no other claim (nor the reconciler)
  // takes them for a dead worker's: see claim-heartbeat.ts. Stopped only once the worker's runs ended (close).
  const heartbeat = new ClaimHeartbeat({ pool, lockDurationMs: config.worker.lockDurationMs, logger });
  heartbeat.start();
  const processor = new EventProcessor({
    store: new ProcessingStore(pool, { logger, liveClaimWindowMs: liveClaimWindowMs(config.worker.lockDurationMs) }),
    heartbeat,
    // Sooner than half the window no other claim can have taken the event (it leaves younger claims alone).
    confirmClaimAfterMs: confirmClaimAfterMs(config.worker.lockDurationMs),
    routes: options.routes,
    handlers: options.handlers ?? new EventHandlerRegistry(),
    forwarder,
    publishers,
    // Payload and kept headers, read only for events a route with a filter or transform matches.
    routeInputs: new RouteInputReader(pool),
    maxAttempts: config.queue.attempts,
    logger,
    guard,
  });
  const podCost = PodDeletionCostReporter.fromConfig(config.kubernetes, { logger: createLogger('pod-deletion-cost') });
  const worker = new EventWorker({
    connection: infrastructure.connectRedis('worker'),
    queueName: config.queue.name,
    prefix: config.queue.prefix,
    concurrency: config.worker.concurrency,
    lockDurationMs: config.worker.lockDurationMs,
    stalledIntervalMs: config.worker.stalledIntervalMs,
    processor,
    logger,
    onActiveJobsChange: (active) => podCost.setActiveJobs(active),
  });
  worker.start();
  const reconciler = new Reconciler({
    pool,
    queue,
    intervalMs: config.reconciler.intervalMs,
    staleMs: config.reconciler.staleMs,
    logger: createLogger('reconciler'),
    // One pass an interval across all workers, each going on from where the last stopped (see reconciler-turns.ts).
    turns: new ReconcilerTurns(stateRedis, `${config.queue.prefix}:${config.queue.name}`),
  });
  reconciler.start();
  const retention = new Retention({
    pool,
    completedDays: config.retention.completedDays,
    tombstoneDays: config.retention.tombstoneDays,
    intervalMs: config.retention.intervalMs,
    logger: createLogger('retention'),
  });
  retention.start();

  return {
    stopTakingJobs: () => {
      draining = true;
      // A draining worker takes no new jobs: it no longer counts as a running worker (WebhookNoWorkers, the dashboard).
      workerConcurrency.set({ queue: config.queue.name }, 0);
      // Nor starts the deliveries of the jobs it holds that wait for a destination's slot (maxConcurrency): those jobs
      // go back to the queue at once, no attempt used, and only the deliveries in flight finish, so the drain ends
      // within SHUTDOWN_TIMEOUT_MS instead of being cut off mid-delivery (and the next worker sending it again).
      forwarder.stopStartingDeliveries();
      publishers.stopStartingDeliveries();
      return worker.close();
    },
    async close() {
      // A run or pass in progress ends before the pool and Redis close (infrastructure.close, after this).
      await pauseResync.stop();
      await removedRelease.stop();
      await staleCircuits.stop();
      // Promotions after a circuit closed (deliveries ended: no more closes): the later one too, at its time.
      await guard.close();
      await reconciler.stop();
      await retention.stop();
      await heartbeat.stop();
      await podCost.close();
      await forwarder.close();
      await publishers.close();
    },
  };
}
