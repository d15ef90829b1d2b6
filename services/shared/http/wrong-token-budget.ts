import type { Request, Response } from 'express';
import { AppError } from '../errors/app-error.js';
import { clientBudgetKey } from './client-budget-key.js';
import { ClientFailureLimiter } from './client-failure-limiter.js';

/**
 * Wrong tokens per client and minute for an endpoint guarded by a shared token (the admin API's ADMIN_API_TOKEN). It
 * is served on the port the providers reach, so without a bound anyone who can send a webhook could guess the token
 * as fast as the ingress answers. (The preStop hook's PRESTOP_TOKEN has none on purpose: the kubelet calls it from the
 * node's address, which NodePort and LoadBalancer traffic shares, so a budget there would let anyone fail the hooks;
 * the chart's token is 40 random characters.)
 *
 * Consulted before the token is compared: a client that sent `limit` wrong tokens in the window is refused (429 with
 * Retry-After) whatever it sends until the window ends, the right token included; were the right token still let
 * through, the budget would not slow a guesser down at all. Only a token that was sent and did not match counts (a
 * request with none guesses nothing). Clients on other keys are never affected: see {@link tokenBudgetKeyOf}.
 */
export class WrongTokenBudget {
  /**
   * @param failures the wrong tokens counted, per client key and minute
   * @param endpoint what the 429's message calls the endpoint (`admin`)
   */
  constructor(
    readonly failures: ClientFailureLimiter,
    private readonly endpoint: string,
  ) {}

  get limit(): number {
    return this.failures.limit;
  }

  /** The 429 for a request whose client has spent its budget (Retry-After set on `res`), or undefined. */
  refusal(key: string, res: Response): AppError | undefined {
    if (!this.failures.hasSpentBudget(key)) return undefined;
    const seconds = this.retryAfterSeconds();
    res.setHeader('Retry-After', String(seconds));
    return new AppError('TOO_MANY_REQUESTS', `Too many ${this.endpoint} requests with a wrong token from this address; try again in ${seconds} s`);
  }

  /** Counts one wrong token of `key`; true when this one spent its budget (worth one warn line per client and window). */
  recordWrongToken(key: string): boolean {
    return this.failures.recordFailure(key) === this.failures.limit;
  }

  /** Seconds until the window ends, at least 1 (a Retry-After of 0 reads as "now"). */
  retryAfterSeconds(): number {
    return Math.max(1, this.failures.secondsToReset());
  }
}

/**
 * The key a request's wrong tokens count against: {@link clientBudgetKey} of its connection and the address TRUST_PROXY
 * resolves (`10.1.2.3 for 203.0.113.7` behind a trusted proxy).
 *
 * With `trust proxy` `true` (TRUST_PROXY=true) every X-Forwarded-For entry is trusted, so the forwarded address is the
 * left-most, which every client writes: paired, that would be a fresh budget per request, and a budget consulted
 * before the token is compared must not be one a guesser renews at will. The connecting address alone (the proxy's)
 * is the key then: every client behind that proxy shares one budget, which the start-up warning says.
 */
export function tokenBudgetKeyOf(req: Request): string {
  const peer = req.socket.remoteAddress;
  return clientBudgetKey(peer, req.app.get('trust proxy') === true ? peer : req.ip);
}
