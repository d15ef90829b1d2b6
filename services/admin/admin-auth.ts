import type { NextFunction, Request, Response } from 'express';
import { SharedToken } from '../shared/crypto/shared-token.js';
import { AppError } from '../shared/errors/app-error.js';
import { ClientFailureLimiter } from '../shared/http/client-failure-limiter.js';
import type { Logger } from '../shared/logging/logger.js';
import { adminAuthRefused } from '../shared/metrics/admin-auth-metrics.js';

export interface AdminAuthOptions {
  /** ADMIN_API_TOKEN (unset: every admin request is refused). */
  token: string | undefined;
  /**
   * Wrong tokens per client address and window (ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE). The admin API is served by the
   * ingress, on the port the providers reach, so without a bound anyone who can send a webhook can guess tokens as
   * fast as the ingress answers.
   */
  failures: ClientFailureLimiter;
  logger?: Logger;
}

/**
 * Bearer-token guard for the admin API (compared as a {@link SharedToken}: constant time, length hidden). No token
 * configured: every admin request is refused.
 *
 * A client address that sent `failures.limit` wrong tokens in the window gets 429 (with Retry-After) for every admin
 * request until the window ends, the right token included: were the right token still let through, the budget would
 * not slow a guesser down at all. Only a token that was sent and did not match counts; a request with no
 * Authorization header (a console after sign-out, a health probe that strayed) is answered 401 and not counted.
 * Operators on other addresses are never affected. Both refusals are counted in `webhook_admin_auth_refused_total`.
 */
export function adminAuth({ token, failures, logger }: AdminAuthOptions) {
  const expected = token ? new SharedToken(token) : undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!expected) throw new AppError('FORBIDDEN', 'Admin API is disabled: ADMIN_API_TOKEN is not set');
    const key = budgetKeyOf(req);
    if (failures.hasSpentBudget(key)) {
      adminAuthRefused.inc({ reason: 'budget_spent' });
      throw tooManyFailures(res, failures);
    }
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (expected.matches(match?.[1])) return next();
    if (match) {
      adminAuthRefused.inc({ reason: 'wrong_token' });
      const failed = failures.recordFailure(key);
      if (failed === failures.limit) {
        logger?.warn('admin requests with a wrong token reached the limit for this client address; refused with 429 until the window ends', {
          client: key,
          limit: failures.limit,
          retryAfterSeconds: failures.secondsToReset(),
        });
      }
    }
    // RFC 6750: a 401 names the scheme it wants, so clients and tools know to send a bearer token.
    res.setHeader('WWW-Authenticate', `Bearer realm="admin"${match ? ', error="invalid_token"' : ''}`);
    throw new AppError('UNAUTHORIZED', 'Missing or invalid admin token');
  };
}

/**
 * The key a request's wrong tokens count against: the connecting address, and the address it forwards for when
 * TRUST_PROXY resolves another one (`10.1.2.3 for 203.0.113.7`).
 *
 * Not the resolved address alone (Express's `req.ip`): TRUST_PROXY trusts every connection from the addresses it names
 * to be a proxy, and the chart names the private ranges, which every pod connects from. Any pod then chose the
 * address its wrong tokens were counted against: naming `127.0.0.1` (every operator behind `kubectl port-forward`)
 * or an operator's address behind the proxy, it locked them out, minute after minute. Paired with the connecting
 * address, a client naming another's address spends a budget of its own; behind a real proxy, each client it
 * forwards for still has its own (the proxy writes their real addresses), so one client cannot lock out the others.
 *
 * With `trust proxy` `true` (TRUST_PROXY=true) every X-Forwarded-For entry is trusted, so the forwarded address is the
 * left-most, which every client writes: the pair would be a fresh budget per request. The connecting address alone
 * (the proxy's) is the key then: every client behind that proxy shares one budget, which the start-up warning says.
 */
function budgetKeyOf(req: Request): string {
  const peer = req.socket.remoteAddress;
  const connecting = ClientFailureLimiter.keyFor(peer);
  if (req.app.get('trust proxy') === true) return connecting;
  const resolved = ClientFailureLimiter.keyFor(req.ip, peer);
  return resolved === connecting ? connecting : `${connecting} for ${resolved}`;
}

function tooManyFailures(res: Response, failures: ClientFailureLimiter): AppError {
  const seconds = Math.max(1, failures.secondsToReset());
  res.setHeader('Retry-After', String(seconds));
  return new AppError('TOO_MANY_REQUESTS', `Too many admin requests with a wrong token from this address; try again in ${seconds} s`);
}
