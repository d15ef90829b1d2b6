/**
 * `Retry-After` (seconds) on a webhook answered 503 because a dependency is unavailable (PostgreSQL unreachable, slow
 * or read-only; PayPal's certificate downloads busy). Nothing of such a request was stored that the sender must not
 * send again, and a sender that honours the header (many generic webhook senders do; Stripe and GitHub keep their own
 * schedules) then comes back after the outage's first seconds instead of at once: its retries do not pile onto an
 * ingress whose storage is struggling, and a short blip (a failover, a killed session) is over by then.
 */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;
