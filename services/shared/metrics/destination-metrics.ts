import client from 'prom-client';
import { registry } from './metrics.js';

// In shared with the other metric definitions: the worker's forwarder moves these gauges, service metrics create them at 0.

/** Forwarded requests holding one of a destination's slots (`maxConcurrency`) in this process. */
export const destinationRequestsInFlight = new client.Gauge({
  name: 'webhook_destination_requests_in_flight',
  help: 'Forwarded requests in flight to a destination in this process (at most its maxConcurrency)',
  labelNames: ['destination'] as const,
  registers: [registry],
});

/** Forwards waiting for a slot: the destination's `maxConcurrency` is below what the worker sends it. */
export const destinationRequestsWaiting = new client.Gauge({
  name: 'webhook_destination_requests_waiting',
  help: 'Forwards waiting for a free slot of a destination in this process (its delivery timeout has not started)',
  labelNames: ['destination'] as const,
  registers: [registry],
});
