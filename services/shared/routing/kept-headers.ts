/**
 * Request headers the ingress stores with every event (`webhook_events.headers`, lower-case names), besides an `hmac`
 * provider's `idHeader` / `typeHeader`: what operators see, and all a route filter's `headers.<name>` can read.
 * Signatures, secrets and cookies never are. Shared because the ingress keeps them and the worker's routes file
 * refuses a filter on any other header (one that would silently match nothing).
 */
export const KEPT_REQUEST_HEADERS = [
  'user-agent',
  'content-type',
  'x-github-event',
  'x-github-delivery',
  'x-github-hook-id',
  'paypal-transmission-id',
  'paypal-transmission-time',
  'paypal-auth-algo',
  'webhook-id',
  'webhook-timestamp',
  'x-request-id',
] as const;
