import type { Config } from '../config/config.js';
import { WEBHOOK_ROUTE } from '../http/webhook-route.js';
import { ADMIN_AUTH_REFUSALS, adminAuthRefused } from './admin-auth-metrics.js';
import { destinationRequestsInFlight, destinationRequestsWaiting } from './destination-metrics.js';
import { CIRCUIT_TRANSITIONS, DEFERRAL_REASONS, circuitTransitions, destinationDeferrals } from './destination-protection-metrics.js';
import {
  DELIVERY_RESULTS,
  PROCESSED_STATUSES,
  RECEIVE_OUTCOMES,
  RECONCILED_STATUSES,
  deliveryAttempts,
  deliveryDuration,
  eventsProcessed,
  eventsReceived,
  httpRequestDuration,
  processingDuration,
  reconcilerRequeued,
  serviceInfo,
  workerConcurrency,
  type ReceiveOutcome,
} from './metrics.js';
import { UnfinishedEventsGauge, type UnfinishedEventsSource } from './unfinished-events-gauge.js';

/**
 * The status code `POST /webhooks/{provider}` answers each outcome with: the `status_code`s of its
 * `http_request_duration_seconds` series known in advance. A new outcome not listed here fails tsc.
 */
const WEBHOOK_STATUS_CODES: Record<ReceiveOutcome, number> = {
  accepted: 202,
  duplicate: 200,
  invalid_signature: 401,
  invalid_payload: 400,
  unsupported_media_type: 415,
  unknown_provider: 404,
  too_large: 413,
  unavailable: 503,
  rate_limited: 429,
  certificate_unavailable: 503,
  overloaded: 503,
  duplicate_rate_limited: 429,
};

/** The label value the ingress counts requests for unknown or disabled providers under. */
export const UNKNOWN_PROVIDER = 'unknown';

export interface ServiceMetricsOptions {
  config: Pick<Config, 'role' | 'providers' | 'queue' | 'worker'>;
  /** PostgreSQL, for `webhook_events_unfinished`. */
  pool: UnfinishedEventsSource;
  /** The providers the ingress serves (its ProviderRegistry's names); undefined when the process runs no ingress. */
  ingressProviders?: readonly string[];
  /**
   * Providers PROVIDERS_FILE gives secrets to, those ROUTES_FILE routes name and those in-process handlers are
   * registered for (not `*`): names, as shared code reads no role's file or handler types.
   */
  fileProviders?: readonly string[];
  /** The destinations ROUTES_FILE declares, by name. */
  destinations?: readonly string[];
  /**
   * The worker's in-process handlers as the destinations they count as (`handler:<name>`): they have delivery attempts
   * and durations, but no slots, pauses or circuits.
   */
  handlerDestinations?: readonly string[];
  /** Whether this process runs the worker (roles `worker` and `all`). */
  runsWorker: boolean;
}

/** Providers a worker can see events of: those configured (secrets set), ROUTES_FILE routes and handlers name. */
export function knownProviders(options: Pick<ServiceMetricsOptions, 'config' | 'fileProviders' | 'ingressProviders'>): string[] {
  const { providers } = options.config;
  const names = new Set(options.ingressProviders ?? []);
  if (providers.stripeSecrets.some((secret) => secret.trim() !== '')) names.add('stripe');
  if (providers.githubSecrets.some((secret) => secret.trim() !== '')) names.add('github');
  if (providers.paypal && providers.paypal.webhookId.trim() !== '') names.add('paypal');
  for (const name of options.fileProviders ?? []) names.add(name);
  return [...names].sort();
}

/**
 * The metrics a process exports from its start, before anything happened:
 * - `webhook_service_info{role,queue}` 1, and `webhook_worker_concurrency{queue}` in processes that run the worker;
 * - every known label set of the counters dashboards and alerts take increase() / rate() of, at 0. prom-client
 *   creates a labelled series at its first inc(), so without this the first dead letter of a provider on a new pod
 *   would appear already at 1 and increase() would never see it: the series must exist at 0 before it moves.
 *   Ingress: received × (its providers + `unknown`) × every outcome, admin token refusals × every reason. Worker:
 *   processed × known providers × every status, delivery attempts × ROUTES_FILE destinations and in-process handlers
 *   (`handler:<name>`) × every result (and the ROUTES_FILE destinations' in-flight and waiting gauges, deferrals and
 *   circuit transitions), reconciler requeues × every status.
 * - the known label sets of the duration histograms, at 0 (`zero()`), for the same reason: their `_count` and
 *   `_bucket` series are what the dashboard takes rate() of (processing duration, delivery latency, HTTP latency
 *   and requests by status code), and a series born at its first observe() would hide a new pod's first traffic.
 *   Ingress: `http_request_duration_seconds{method="POST",route="/webhooks/:provider"}` × every status code the
 *   route answers an outcome with. Worker: processing duration × known providers, delivery duration × ROUTES_FILE
 *   destinations and in-process handlers. zero() replaces a series' values, which is why this runs before the server listens and, in the
 *   worker, in the tick the worker was started in (no job can have finished yet).
 * - `webhook_events_unfinished{queue}`, read from PostgreSQL at scrape time.
 * Call once the configuration is read, before the HTTP server listens (so the first scrape sees the zeros).
 */
export function initialiseServiceMetrics(options: ServiceMetricsOptions): void {
  const { config } = options;
  const queue = config.queue.name;
  serviceInfo.set({ role: config.role, queue }, 1);
  new UnfinishedEventsGauge(queue, options.pool);

  if (options.ingressProviders) {
    for (const provider of options.ingressProviders) {
      for (const outcome of RECEIVE_OUTCOMES) eventsReceived.inc({ provider, outcome }, 0);
    }
    eventsReceived.inc({ provider: UNKNOWN_PROVIDER, outcome: 'unknown_provider' }, 0);
    // The admin API is served by the ingress: its first wrong token on a new pod must be a step increase() sees.
    for (const reason of ADMIN_AUTH_REFUSALS) adminAuthRefused.inc({ reason }, 0);
    // Histograms too: prom-client creates a series at its first observe(), which rate() would never see.
    for (const statusCode of new Set(Object.values(WEBHOOK_STATUS_CODES))) {
      httpRequestDuration.zero({ method: 'POST', route: WEBHOOK_ROUTE, status_code: String(statusCode) });
    }
  }

  if (options.runsWorker) {
    workerConcurrency.set({ queue }, config.worker.concurrency);
    for (const provider of knownProviders(options)) {
      for (const status of PROCESSED_STATUSES) eventsProcessed.inc({ provider, status }, 0);
      // Histograms too: prom-client creates a series at its first observe(), which rate() would never see.
      processingDuration.zero({ provider });
    }
    for (const destination of options.destinations ?? []) {
      deliveryDuration.zero({ destination });
      for (const result of DELIVERY_RESULTS) deliveryAttempts.inc({ destination, result }, 0);
      // Gauges the forwarder moves up and down: inc by 0, so a job already running keeps its count.
      destinationRequestsInFlight.inc({ destination }, 0);
      destinationRequestsWaiting.inc({ destination }, 0);
      for (const reason of DEFERRAL_REASONS) destinationDeferrals.inc({ destination, reason }, 0);
      for (const to of CIRCUIT_TRANSITIONS) circuitTransitions.inc({ destination, to }, 0);
    }
    for (const destination of options.handlerDestinations ?? []) {
      deliveryDuration.zero({ destination });
      for (const result of DELIVERY_RESULTS) deliveryAttempts.inc({ destination, result }, 0);
    }
    for (const status of RECONCILED_STATUSES) reconcilerRequeued.inc({ status }, 0);
  }
}
