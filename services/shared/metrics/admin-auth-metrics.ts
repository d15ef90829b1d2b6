import client from 'prom-client';
import { registry } from './metrics.js';

/**
 * Why the admin API's token guard refused a request (`reason` of `webhook_admin_auth_refused_total`): `wrong_token`
 * (401: a bearer token was sent and did not match) and `budget_spent` (429: the client address sent
 * ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE wrong tokens this minute, and every admin request of it is refused until the
 * minute ends, whatever token it sends). A request with no token at all (a console after sign-out) is answered 401
 * and not counted: it guesses nothing.
 */
export const ADMIN_AUTH_REFUSALS = ['wrong_token', 'budget_spent'] as const;
export type AdminAuthRefusal = (typeof ADMIN_AUTH_REFUSALS)[number];

/**
 * Admin requests refused by the token guard, by reason only: no client address as a label (a guesser that names a
 * new address per request through X-Forwarded-For would add a series each time); the address is in the guard's warn
 * line when it reaches the limit. What tells "someone is guessing the admin token" apart from the webhook route's
 * and everything else's 429s in `http_request_duration_seconds`.
 */
export const adminAuthRefused = new client.Counter({
  name: 'webhook_admin_auth_refused_total',
  help:
    'Admin API requests refused by the token guard, by reason (wrong_token = 401 for a token that did not match, ' +
    'budget_spent = 429 for an address past ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE wrong tokens this minute)',
  labelNames: ['reason'] as const,
  registers: [registry],
});
