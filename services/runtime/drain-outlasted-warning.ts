import type { Logger } from '../shared/logging/logger.js';

/** A destination as far as its delivery timeout goes (`timeoutMs` unset: DELIVERY_TIMEOUT_MS). */
interface TimedDestination {
  name: string;
  timeoutMs?: number;
}

/**
 * Warns once at a worker's start when a delivery may last as long as the whole drain: a destination whose timeout
 * (its `timeoutMs`, else DELIVERY_TIMEOUT_MS) is not shorter than SHUTDOWN_TIMEOUT_MS. Both are reasonable on their own, and together too (a
 * slow destination), so the start goes on; but a delivery that long in flight at SIGTERM is cut off by the forced exit
 * (exit 1), and its event sent again by another worker once the job's lock lapses (WORKER_LOCK_DURATION_MS): at least
 * once still holds, and the destination gets a duplicate. Nothing said so before it happened at a rollout.
 */
export function warnIfDeliveriesOutlastDrain(
  options: { shutdownTimeoutMs: number; deliveryTimeoutMs: number; destinations: readonly TimedDestination[] },
  logger: Logger,
): void {
  const { shutdownTimeoutMs, deliveryTimeoutMs } = options;
  const outlasting = options.destinations
    .map((destination) => ({ name: destination.name, timeoutMs: destination.timeoutMs ?? deliveryTimeoutMs }))
    .filter((destination) => destination.timeoutMs >= shutdownTimeoutMs);
  // Without destinations (no ROUTES_FILE) nothing is delivered, whatever DELIVERY_TIMEOUT_MS says.
  if (outlasting.length === 0) return;
  logger.warn(
    'a delivery may outlast the drain: SHUTDOWN_TIMEOUT_MS is not longer than these destinations\' timeouts (timeoutMs, else DELIVERY_TIMEOUT_MS), so a delivery in flight at SIGTERM can be cut off by the forced exit and sent again by another worker; give SHUTDOWN_TIMEOUT_MS more than the longest delivery timeout (the chart derives the pod\'s grace period from it)',
    {
      shutdownTimeoutMs,
      deliveryTimeoutMs,
      destinations: Object.fromEntries(outlasting.map((destination) => [destination.name, destination.timeoutMs])),
    },
  );
}
