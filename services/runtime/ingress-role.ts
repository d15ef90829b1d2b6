import type { Router } from 'express';
import { createAdminApi } from '../admin/admin-api.js';
import { DestinationControl } from '../admin/destination-control.js';
import { consoleRouter } from '../console/console-router.js';
import { BodyMemoryBudget } from '../ingress/ingest/body-memory-budget.js';
import { DuplicateBudget } from '../ingress/ingest/duplicate-budget.js';
import { EventWriter } from '../ingress/ingest/event-writer.js';
import { StoreQueueBudget } from '../ingress/ingest/store-queue-budget.js';
import { webhookRouter } from '../ingress/ingest/webhook-router.js';
import { ClientFailureLimiter } from '../shared/http/client-failure-limiter.js';
import { WebhookReceiver } from '../ingress/ingest/webhook-receiver.js';
import type { ProviderRegistry } from '../ingress/verification/provider-registry.js';
import type { Config } from '../shared/config/config.js';
import { ADMIN_POOL_SIZE, createDataSource } from '../shared/database/data-source.js';
import { DestinationPauses } from '../shared/destinations/destination-pauses.js';
import { DestinationStateStore } from '../shared/destinations/destination-state.js';
import { createLogger } from '../shared/logging/logger.js';
import { registerStoreQueueGauges } from '../shared/metrics/store-queue-gauge.js';
import type { RoutesFile } from '../worker/routing/routes-file.js';
import type { Infrastructure } from './infrastructure.js';

/** The ingress as started: what it serves, and its two steps of the drain. */
export interface IngressRole {
  /** Webhooks, the admin API and the console, mounted by the HTTP app. */
  routers: Router[];
  /** The webhook route's core, shared by the Express route and the direct path (webhook-fast-path.ts). */
  receiver: WebhookReceiver;
  /** Bodies being read, all requests together: shared by the Express route and the direct path. */
  bodyBudget: BodyMemoryBudget;
  /** Waits for inserts and enqueues in flight, so every 2xx given is backed by a row (and a job). */
  drain(): Promise<void>;
  /** Stops the admin API's samplers and closes its connection. */
  close(): Promise<void>;
}

export interface IngressRoleOptions {
  config: Config;
  providers: ProviderRegistry;
  /** ROUTES_FILE as loaded (the admin API shows what an event was routed to). */
  routesFile: RoutesFile | undefined;
  infrastructure: Infrastructure;
}

/** Webhooks in (verify → store once → answer → enqueue), the admin API and the console for operators. */
export async function startIngress(options: IngressRoleOptions): Promise<IngressRole> {
  const { config, infrastructure } = options;
  // Webhooks verified and waiting to be stored, all requests (both paths) together: bounded, so a silent PostgreSQL
  // turns the excess away (503 overloaded) instead of queueing it in memory for as long as the silence lasts.
  const queueBudget = new StoreQueueBudget(StoreQueueBudget.defaultBytes(config.http.maxBodyBytes, config.database.poolSize));
  registerStoreQueueGauges(queueBudget);
  const writer = new EventWriter({ pool: infrastructure.pool, queueBudget });
  // The operators' reads go through TypeORM, on a small pool of their own (see shared/database/README.md).
  const adminData = await createDataSource({ url: config.database.url, poolSize: ADMIN_POOL_SIZE, applicationName: 'webhooks-admin' }).initialize();
  // Pause/resume and destination state: recorded in PostgreSQL, shared with the workers through Redis.
  const destinationState = new DestinationStateStore(infrastructure.redis, `${config.queue.prefix}:${config.queue.name}`);
  const destinationControl = new DestinationControl({
    state: destinationState,
    pauses: new DestinationPauses(infrastructure.pool, destinationState),
    pool: infrastructure.pool,
    queue: infrastructure.queue.queue,
    routes: options.routesFile,
    logger: createLogger('destinations'),
  });
  const admin = createAdminApi({
    token: config.adminApiToken,
    authFailureLimitPerMinute: config.adminAuthFailureLimitPerMinute,
    dataSource: adminData,
    queue: infrastructure.queue,
    logger: createLogger('admin'),
    routes: options.routesFile,
    traceUrlTemplate: config.console.traceUrlTemplate,
    destinationControl,
  });
  // One failed-verification budget for the webhook route (which counts failures) and its core (whose verifiers read
  // it before a download): both paths of a webhook, the direct one and Express, share it through the receiver.
  const failures = new ClientFailureLimiter({ limit: config.http.verificationFailureLimitPerMinute, windowMs: 60_000 });
  // Duplicates answered per client: a captured delivery re-sent at will is refused 429 past it, before PostgreSQL
  // once this process has refused it once. Per process: each replica keeps its own.
  const duplicates = new DuplicateBudget({ limit: config.http.duplicateLimitPerMinute, windowMs: 60_000 });
  const receiver = new WebhookReceiver({ writer, queue: infrastructure.queue, logger: createLogger('ingress'), failures, duplicates });
  const bodyBudget = BodyMemoryBudget.forMaxBodyBytes(config.http.maxBodyBytes, config.database.poolSize);
  const webhooks = webhookRouter({
    receiver,
    bodyBudget,
    providers: options.providers,
    writer,
    queue: infrastructure.queue,
    maxBodyBytes: config.http.maxBodyBytes,
    verificationFailureLimitPerMinute: config.http.verificationFailureLimitPerMinute,
    logger: createLogger('ingress'),
  });
  return {
    routers: [webhooks, admin.router, consoleRouter()],
    receiver,
    bodyBudget,
    drain: () => writer.drain(),
    async close() {
      // A resume's second promotion still to come runs before the pool and Redis close (infrastructure.close, after).
      await destinationControl.close();
      await admin.close();
      await adminData.destroy();
    },
  };
}
