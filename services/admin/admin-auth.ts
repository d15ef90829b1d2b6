import type { NextFunction, Request, Response } from 'express';
import { SharedToken } from '../shared/crypto/shared-token.js';
import { AppError } from '../shared/errors/app-error.js';
import type { ClientFailureLimiter } from '../shared/http/client-failure-limiter.js';
import { tokenBudgetKeyOf, WrongTokenBudget } from '../shared/http/wrong-token-budget.js';
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
 * A client that sent `failures.limit` wrong tokens in the window gets 429 (with Retry-After) for every admin request
 * until the window ends, the right token included ({@link WrongTokenBudget}, shared with the preStop hook). Only a
 * token that was sent and did not match counts; a request with no Authorization header (a console after sign-out, a
 * health probe that strayed) is answered 401 and not counted.
 * Operators on other addresses are never affected. Both refusals are counted in `webhook_admin_auth_refused_total`.
 */
export function adminAuth({ token, failures, logger }: AdminAuthOptions) {
  const expected = token ? new SharedToken(token) : undefined;
  const budget = new WrongTokenBudget(failures, 'admin');
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!expected) throw new AppError('FORBIDDEN', 'Admin API is disabled: ADMIN_API_TOKEN is not set');
    // The connecting address, and the one a trusted proxy forwards for (see tokenBudgetKeyOf).
    const key = tokenBudgetKeyOf(req);
    const spent = budget.refusal(key, res);
    if (spent) {
      adminAuthRefused.inc({ reason: 'budget_spent' });
      throw spent;
    }
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (expected.matches(match?.[1])) return next();
    if (match) {
      adminAuthRefused.inc({ reason: 'wrong_token' });
      if (budget.recordWrongToken(key)) {
        logger?.warn('admin requests with a wrong token reached the limit for this client address; refused with 429 until the window ends', {
          client: key,
          limit: budget.limit,
          retryAfterSeconds: failures.secondsToReset(),
        });
      }
    }
    // RFC 6750: a 401 names the scheme it wants, so clients and tools know to send a bearer token.
    res.setHeader('WWW-Authenticate', `Bearer realm="admin"${match ? ', error="invalid_token"' : ''}`);
    throw new AppError('UNAUTHORIZED', 'Missing or invalid admin token');
  };
}
