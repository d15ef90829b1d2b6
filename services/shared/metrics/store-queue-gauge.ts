import client from 'prom-client';
import { registry } from './metrics.js';

export const STORE_QUEUE_BYTES_METRIC = 'webhook_ingress_store_queue_bytes';
export const STORE_QUEUE_LIMIT_METRIC = 'webhook_ingress_store_queue_limit_bytes';

/** What the gauges read: the ingress's bound on webhooks waiting to be stored (its StoreQueueBudget). */
export interface StoreQueueSource {
  readonly heldBytes: number;
  readonly limitBytes: number;
}

/**
 * `webhook_ingress_store_queue_bytes` and `webhook_ingress_store_queue_limit_bytes`: what the webhooks waiting to be
 * stored in this ingress process are charged (raw bodies plus a fixed charge each), and the bound past which new
 * webhooks are refused 503 `overloaded`. Read when Prometheus scrapes. One pair per process; a second service
 * instance in the same process (tests) takes them over.
 */
export function registerStoreQueueGauges(source: StoreQueueSource): void {
  registry.removeSingleMetric(STORE_QUEUE_BYTES_METRIC);
  registry.removeSingleMetric(STORE_QUEUE_LIMIT_METRIC);
  new client.Gauge({
    name: STORE_QUEUE_BYTES_METRIC,
    help: 'Bytes charged for verified webhooks waiting to be stored in this ingress (raw bodies plus 4 KiB each)',
    registers: [registry],
    collect() {
      this.set(source.heldBytes);
    },
  });
  new client.Gauge({
    name: STORE_QUEUE_LIMIT_METRIC,
    help: `The bound on ${STORE_QUEUE_BYTES_METRIC}: past it, webhooks are refused 503 (outcome="overloaded")`,
    registers: [registry],
    collect() {
      this.set(source.limitBytes);
    },
  });
}
