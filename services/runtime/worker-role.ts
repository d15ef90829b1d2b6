import type { Config } from '../shared/config/config.js';
import { createLogger } from '../shared/logging/logger.js';
import { BrokerPublishers } from '../worker/delivery/broker-publishers.js';
import { HttpForwarder } from '../worker/delivery/http-forwarder.js';
import { EventWorker } from '../worker/event-worker.js';
import { Reconciler } from '../worker/maintenance/reconciler.js';
import { Retention } from '../worker/maintenance/retention.js';
import { EventHandlerRegistry } from '../worker/processing/event-handlers.js';
import { EventProcessor } from '../worker/processing/event-processor.js';
import { ProcessingStore } from '../worker/processing/processing-store.js';
import { RouteInputReader } from '../worker/routing/route-input-reader.js';
import type { RouteTable } from '../worker/routing/route-table.js';
import { PodDeletionCostReporter } from '../worker/scaling/pod-deletion-cost.js';
import type { Infrastructure } from './infrastructure.js';

/** The worker as started, and its two steps of the drain. */
export interface WorkerRole {
  /** Takes no new jobs and waits for the running ones to finish (their deliveries and bookkeeping). */
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

/** Jobs in, deliveries out (process → deliver → record), then the books kept straight: reconciler and retention. */
export function startWorker(options: WorkerRoleOptions): WorkerRole {
  const { config, infrastructure } = options;
  const { pool, queue } = infrastructure;
  const logger = createLogger('worker');
  // One lane per destination, as wide as the jobs this worker runs at once (unless a destination sets maxConcurrency).
  const forwarder = new HttpForwarder({ defaultTimeoutMs: config.worker.deliveryTimeoutMs, defaultMaxConcurrency: config.worker.concurrency });
  // RabbitMQ (amqp) and NATS JetStream (nats) destinations: one long-lived connection per broker URL, made on first use.
  const publishers = new BrokerPublishers({ defaultTimeoutMs: config.worker.deliveryTimeoutMs, defaultMaxConcurrency: config.worker.concurrency, logger: createLogger('brokers') });
  const processor = new EventProcessor({
    store: new ProcessingStore(pool, { logger }),
    routes: options.routes,
    handlers: options.handlers ?? new EventHandlerRegistry(),
    forwarder,
    publishers,
    // Payload and kept headers, read only for events a route with a filter or transform matches.
    routeInputs: new RouteInputReader(pool),
    maxAttempts: config.queue.attempts,
    logger,
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
  const reconciler = new Reconciler({ pool, queue, intervalMs: config.reconciler.intervalMs, staleMs: config.reconciler.staleMs, logger: createLogger('reconciler') });
  reconciler.start();
  const retention = new Retention({ pool, completedDays: config.retention.completedDays, intervalMs: config.retention.intervalMs, logger: createLogger('retention') });
  retention.start();

  return {
    stopTakingJobs: () => worker.close(),
    async close() {
      await reconciler.stop();
      await retention.stop();
      await podCost.close();
      await forwarder.close();
      await publishers.close();
    },
  };
}
