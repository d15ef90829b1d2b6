import type { Router } from 'express';
import type { DataSource } from 'typeorm';
import type { Logger } from '../shared/logging/logger.js';
import type { EventQueue } from '../shared/queue/event-queue.js';
import { adminRouter } from './admin-router.js';
import type { DestinationControl } from './destination-control.js';
import { DestinationSummary } from './destination-summary.js';
import { EventAdminService } from './event-admin-service.js';
import { Overview } from './overview.js';
import type { RoutingConfig } from './routing-view.js';

export interface AdminApiOptions {
  /** ADMIN_API_TOKEN (unset: every admin request is refused). */
  token: string | undefined;
  /** ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE. */
  authFailureLimitPerMinute?: number;
  dataSource: DataSource;
  queue: EventQueue;
  logger: Logger;
  /** ROUTES_FILE as loaded, for the event detail's routing and the destinations list. */
  routes?: RoutingConfig;
  /** TRACE_URL_TEMPLATE: a tracing UI's URL with `{traceId}`. */
  traceUrlTemplate?: string;
  /** Pause/resume and destination state (absent: `state` is null and pause/resume answer 404). */
  destinationControl?: DestinationControl;
}

/**
 * The admin API as the ingress serves it: events, overview, destinations. `close()` stops the queue sampler and the
 * adding of replayed events' jobs (before the queue closes).
 */
export function createAdminApi(options: AdminApiOptions): { router: Router; close(): Promise<void> } {
  const { dataSource, queue, logger, routes } = options;
  const overview = new Overview({ dataSource, queue, logger }).start();
  // A replay changes minutes the overview keeps: the operator who made it sees that at once (other processes within
  // their overview's answer cache).
  const events = new EventAdminService(dataSource, queue, logger, {
    routes,
    traceUrlTemplate: options.traceUrlTemplate,
    onReplayed: () => overview.forgetAnswers(),
  });
  const destinations = new DestinationSummary(dataSource, routes, undefined, options.destinationControl);
  return {
    router: adminRouter({ token: options.token, authFailureLimitPerMinute: options.authFailureLimitPerMinute, logger, events, overview, destinations, destinationControl: options.destinationControl }),
    async close() {
      overview.close();
      // A status-wide replay still adding its jobs stops after the round in flight (the reconciler adds the rest).
      await events.close();
    },
  };
}
