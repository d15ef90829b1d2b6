/**
 * `Retry-After` (seconds) on a request answered 503 because a dependency is unavailable (PostgreSQL unreachable, slow
 * or read-only; Redis; PayPal's certificate downloads busy): set by the error middleware for every route (the admin
 * API's too, whose console waits that long before it asks again), and by the webhooks' direct path.
 *
 * For a webhook: nothing of such a request was stored that the sender must not send again, and a sender that honours
 * the header (many generic webhook senders do; Stripe and GitHub keep their own schedules) then comes back after the
 * outage's first seconds instead of at once: its retries do not pile onto an ingress whose storage is struggling, and
 * a short blip (a failover, a killed session) is over by then.
 */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;
