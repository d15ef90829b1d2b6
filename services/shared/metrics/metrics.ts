import client from 'prom-client';

/**
 * Every metric the service exports, in one registry. Names are part of the public contract: dashboards,
 * alert rules and the KEDA autoscaler query them.
 */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

/** Outcomes of `POST /webhooks/{provider}`. */
export const RECEIVE_OUTCOMES = [
  'accepted',
  'duplicate',
  'invalid_signature',
  'invalid_payload',
  // 415: a content type the provider never sends (a misrouted or misconfigured sender), not a malformed payload.
  'unsupported_media_type',
  'unknown_provider',
  'too_large',
  // 503: the event could not be stored (PostgreSQL), the WebhookStorageUnavailable page.
  'unavailable',
  'rate_limited',
  // 503: a signing certificate the request names could not be downloaded now (PayPal: its host unreachable or
  // failing, or every download slot taken). Not `unavailable`: PostgreSQL is fine, and a page must name the cause.
  'certificate_unavailable',
  // 503: bodies being received already hold the ingress's body budget (BodyMemoryBudget), or webhooks waiting to be
  // stored hold its bound on them (StoreQueueBudget: PostgreSQL slow or silent, yet not a storage failure of this one).
  'overloaded',
  // 429: a duplicate (stored already, nothing lost) from a client past DUPLICATE_WEBHOOK_LIMIT_PER_MINUTE duplicates
  // this minute: a captured delivery re-sent, most likely (see DuplicateBudget). Not `duplicate`: that one is a 200.
  'duplicate_rate_limited',
] as const;
export type ReceiveOutcome = (typeof RECEIVE_OUTCOMES)[number];

/** The outcome of a webhook refused with 503 because `dependency` (DependencyUnavailableError's) is unavailable. */
export function unavailableOutcome(dependency: string): ReceiveOutcome {
  return dependency === 'paypal-certificates' ? 'certificate_unavailable' : 'unavailable';
}

/** `status` of `webhook_events_processed_total`: how a processing attempt ended. */
export const PROCESSED_STATUSES = ['completed', 'failed', 'dead_letter'] as const;

/** `result` of `webhook_delivery_attempts_total` (the worker's DeliveryResult['result'], which checks it lists them all). */
export const DELIVERY_RESULTS = ['success', 'http_error', 'timeout', 'network_error', 'handler_error', 'internal_error'] as const;

/** `status` of `webhook_reconciler_requeued_total`: the statuses the reconciler finds events stranded in. */
export const RECONCILED_STATUSES = ['PENDING', 'FAILED', 'PROCESSING'] as const;

export const eventsReceived = new client.Counter({
  name: 'webhook_events_received_total',
  help: 'Webhooks received, by provider and outcome',
  labelNames: ['provider', 'outcome'] as const,
  registers: [registry],
});

export const eventsProcessed = new client.Counter({
  name: 'webhook_events_processed_total',
  help: 'Processing attempts that ended, by provider and resulting status (completed, failed = retry scheduled, dead_letter)',
  labelNames: ['provider', 'status'] as const,
  registers: [registry],
});

export const processingDuration = new client.Histogram({
  name: 'webhook_processing_duration_seconds',
  help: 'Time to process one event attempt (routing and all deliveries)',
  labelNames: ['provider'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const deliveryDuration = new client.Histogram({
  name: 'webhook_delivery_duration_seconds',
  help: 'Time of one forwarded request to a destination',
  labelNames: ['destination'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const deliveryAttempts = new client.Counter({
  name: 'webhook_delivery_attempts_total',
  help: 'Forwarded requests to destinations, by result (success, http_error, timeout, network_error, handler_error, internal_error)',
  labelNames: ['destination', 'result'] as const,
  registers: [registry],
});

export const httpRequestDuration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP requests served, by method, route pattern and status code',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const enqueueFailures = new client.Counter({
  name: 'webhook_enqueue_failures_total',
  help: 'Stored events whose enqueue failed (they stay PENDING until the reconciler enqueues them)',
  registers: [registry],
});

export const reconcilerRequeued = new client.Counter({
  name: 'webhook_reconciler_requeued_total',
  help: 'Events the reconciler enqueued again, by the status they were stranded in',
  labelNames: ['status'] as const,
  registers: [registry],
});

export const eventsRemovedByRetention = new client.Counter({
  name: 'webhook_retention_deleted_total',
  help: 'Completed events deleted by the retention job',
  registers: [registry],
});

/**
 * Tombstones (the replay keys of deleted events) retention deleted once older than RETENTION_TOMBSTONE_DAYS: from
 * then on a re-sent delivery of such an event is a new event again, so an operator can see when and how many expired.
 */
export const tombstonesExpiredByRetention = new client.Counter({
  name: 'webhook_retention_tombstones_deleted_total',
  help: 'Tombstones (replay keys of deleted events) deleted by the retention job once older than RETENTION_TOMBSTONE_DAYS',
  registers: [registry],
});

/**
 * 1 for every process of this service, labelled with its role (`ingress`, `worker`, `all`) and queue. Dashboards
 * join generic metrics (process_*, nodejs_*, http_request_duration_seconds) on it, so other apps' targets in the
 * same namespace, and Prometheus itself, never show up as this service.
 */
export const serviceInfo = new client.Gauge({
  name: 'webhook_service_info',
  help: 'Always 1: one series per process of the event integration service, with its role and queue',
  labelNames: ['role', 'queue'] as const,
  registers: [registry],
});

/**
 * Jobs a worker process runs at once (WORKER_CONCURRENCY). Only processes that run the worker (roles `worker` and
 * `all`) have a sample: counting the series counts running workers, whatever the scrape job is called.
 */
export const workerConcurrency = new client.Gauge({
  name: 'webhook_worker_concurrency',
  help: 'Jobs this worker process runs at once (WORKER_CONCURRENCY; 0 once it drains on shutdown); exported only by processes that run the worker',
  labelNames: ['queue'] as const,
  registers: [registry],
});
