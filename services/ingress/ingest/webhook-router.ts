import { trace } from '@opentelemetry/api';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { AppError, DependencyUnavailableError } from '../../shared/errors/app-error.js';
import type { Logger } from '../../shared/logging/logger.js';
import { eventsReceived, unavailableOutcome, type ReceiveOutcome } from '../../shared/metrics/metrics.js';
import type { EventQueue } from '../../shared/queue/event-queue.js';
import { sendError } from '../../shared/http/error-response.js';
import { WEBHOOK_ROUTE } from '../../shared/http/webhook-route.js';
import type { ProviderRegistry } from '../verification/provider-registry.js';
import { FailureBudgetSpentError, WebhookPayloadError, WebhookVerificationError } from '../verification/verification-errors.js';
import type { WebhookVerifier } from '../verification/webhook-request.js';
import { BodyBudgetExceededError, BodyMemoryBudget } from './body-memory-budget.js';
import { isAcceptedMediaType, mediaTypeOf } from './content-type.js';
import { readEncodedBody, type EncodedBodyRefusal } from './encoded-body.js';
import type { EventWriter } from './event-writer.js';
import { StoreQueueFullError } from './store-queue-full-error.js';
import { DuplicateBudgetSpentError } from './duplicate-budget-spent-error.js';
import { clientBudgetKey } from '../../shared/http/client-budget-key.js';
import { ClientFailureLimiter } from '../../shared/http/client-failure-limiter.js';
import { WebhookReceiver } from './webhook-receiver.js';

export interface WebhookRouterOptions {
  providers: ProviderRegistry;
  writer: EventWriter;
  queue: EventQueue;
  maxBodyBytes: number;
  /** Failed verifications per client address and minute answered 401; that client's further failures get 429. */
  verificationFailureLimitPerMinute: number;
  logger: Logger;
  /** The route's core; one is made from `writer` and `queue` when not given. */
  receiver?: WebhookReceiver;
  /**
   * The process's budget for bodies being read, shared with the direct path; one of the default size
   * ({@link BodyMemoryBudget.forMaxBodyBytes}: a share of it per client) when not given.
   */
  bodyBudget?: BodyMemoryBudget;
}

// The failed-verification budget is the receiver's when it has one (verifiers read it there before a download), so
// both count and read the same failures; else the route makes one from `verificationFailureLimitPerMinute`.

declare module 'express-serve-static-core' {
  interface Locals {
    verifier?: WebhookVerifier;
    outcome?: ReceiveOutcome;
  }
}

/**
 * `POST /webhooks/{provider}`, in the order a request meets it: provider known? (404) → content type (415) →
 * body read raw within the size limit (413) → signature verified on those bytes (401) → payload parsed (400)
 * → stored once (202 new, 200 duplicate, 429 duplicate past its client's budget, 503 storage down) → enqueued after
 * commit (never blocking the answer).
 */
export function webhookRouter(options: WebhookRouterOptions): Router {
  const router = Router();
  const { logger } = options;

  const count = (res: Response, provider: string, outcome: ReceiveOutcome) => {
    res.locals.outcome = outcome;
    eventsReceived.inc({ provider, outcome });
    trace.getActiveSpan()?.setAttributes({ 'webhook.provider': provider, 'webhook.outcome': outcome });
  };

  // Failed verifications are counted per client; a client past its budget gets 429 instead of 401 for its next
  // failures, on a connection the server then closes. Nothing is refused before its signature is checked: a
  // correctly signed request always goes through, whatever other requests from its address (or its proxy's) did,
  // so a forged flood can never lock real senders out. See ClientFailureLimiter. The one thing a client past
  // its budget is refused is work done before any signature can be checked (a PayPal certificate not cached yet:
  // FailureBudgetSpentError, answered 429 like its failures, uncounted); a request that can be checked still is.
  const failures =
    options.receiver?.failures ?? new ClientFailureLimiter({ limit: options.verificationFailureLimitPerMinute, windowMs: 60_000 });
  const policyHeader = `${failures.limit};w=${failures.windowMs / 1000}`;
  /** The budget's RateLimit headers for a client with `failed` failures in this window. */
  const budgetHeaders = (res: Response, failed: number, reset: number): void => {
    // The IETF draft-7 RateLimit headers, on the answers they concern: failed verifications.
    res.setHeader('RateLimit-Policy', policyHeader);
    res.setHeader('RateLimit', `limit=${failures.limit}, remaining=${Math.max(0, failures.limit - failed)}, reset=${reset}`);
  };
  /** A 429's headers: when to come back, and a new connection for every further forgery (a handshake per request). */
  const tooManyHeaders = (res: Response, reset: number): void => {
    res.setHeader('Retry-After', String(reset));
    res.setHeader('Connection', 'close');
  };
  /** Counts a failed verification; true when its client is past its budget (answer 429, not 401). */
  const overFailureBudget = (req: Request, res: Response): boolean => {
    const failed = failures.recordFailure(clientKeyOf(req));
    const reset = failures.secondsToReset();
    budgetHeaders(res, failed, reset);
    if (failed <= failures.limit) return false;
    // Real senders never get here: their requests verify.
    tooManyHeaders(res, reset);
    return true;
  };

  const resolveProvider = (req: Request, res: Response, next: NextFunction) => {
    const verifier = options.providers.get(String(req.params.provider));
    if (!verifier) {
      // Unknown names share one label: a scan of random paths must not create unbounded metric series.
      count(res, 'unknown', 'unknown_provider');
      throw new AppError('NOT_FOUND', 'Unknown or disabled provider');
    }
    res.locals.verifier = verifier;
    next();
  };

  const checkContentType = (req: Request, res: Response, next: NextFunction) => {
    const verifier = res.locals.verifier!;
    if (!isAcceptedMediaType(mediaTypeOf(req.headers['content-type']), verifier.contentTypes)) {
      count(res, verifier.provider, 'unsupported_media_type');
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content type must be one of: ${verifier.contentTypes.join(', ')}`);
    }
    next();
  };

  // A declared length over the limit is refused before a byte of the body is read: body-parser would read (and
  // discard) all of it first, however large, before answering.
  const checkDeclaredLength = (req: Request, res: Response, next: NextFunction) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > options.maxBodyBytes) {
      count(res, res.locals.verifier!.provider, 'too_large');
      throw new AppError('PAYLOAD_TOO_LARGE', TOO_LARGE_MESSAGE);
    }
    next();
  };

  const bodyBudget = options.bodyBudget ?? BodyMemoryBudget.forMaxBodyBytes(options.maxBodyBytes);
  /**
   * A body the process has no room for now (on either path): 503, come back later; answered before the body is read
   * in full, so the connection closes, which frees what it held. Or a webhook read and verified that the writer's
   * queue has no room for (StoreQueueFullError, on either path: the direct one hands it back here): the same answer.
   */
  const refuseOverBudget = (req: Request, res: Response, error: AppError = new BodyBudgetExceededError()) => {
    count(res, res.locals.verifier!.provider, 'overloaded');
    if (res.headersSent) return;
    res.setHeader('Retry-After', String(OVER_BUDGET_RETRY_AFTER_SECONDS));
    sendError(req, res, error.statusCode, error.message, error.code);
  };

  // The raw bytes are what providers signed: no JSON parser may run before verification.
  const parseRaw = express.raw({ type: () => true, limit: options.maxBodyBytes });
  // A body still arriving (chunked, or compressed) is refused as soon as more than the limit has come: body-parser
  // would read the rest of it, whatever its size, before it answers 413. The answer closes the connection. What is
  // read is held against the process's body budget until the body is done (see BodyMemoryBudget).
  const readRawBody = (req: Request, res: Response, next: NextFunction) => {
    // Handed over by the direct path: read by it, or refused mid-body for the body budget (the rest of the body is
    // dropped there). receive answers it.
    if ((req as HandedBack)[RECEIVE_FAILURE]) return next();
    if (req.complete) return parseRaw(req, res, next);
    // Whose share of the body budget the body is held on: the failure budget's key.
    const client = clientKeyOf(req);
    // An empty header is no encoding, as body-parser read it (and still does for a body that arrived whole).
    const encoding = (req.headers['content-encoding'] || 'identity').toLowerCase();
    if (encoding !== 'identity') return readEncoded(req, res, next, encoding, client);
    let received = 0;
    let held = 0;
    const release = () => {
      bodyBudget.release(held, client);
      held = 0;
    };
    // As on the direct path: the bytes that complete a body of declared length are not taken from the budget (read
    // already, refusing them would free nothing). A chunked body's last chunk cannot be told from the others.
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > options.maxBodyBytes) {
        req.off('data', onData);
        if (res.headersSent) return;
        count(res, res.locals.verifier!.provider, 'too_large');
        return sendError(req, res, 413, TOO_LARGE_MESSAGE, 'PAYLOAD_TOO_LARGE');
      }
      if (received === declared) return;
      if (bodyBudget.take(chunk.length, client)) return void (held += chunk.length);
      req.off('data', onData);
      refuseOverBudget(req, res);
    };
    req.on('data', onData);
    // Whichever comes first: the body read (it then belongs to the request, not to the reading), or torn down.
    req.once('end', release);
    req.once('close', release);
    // Answered mid-body already (413, 503): the request ends there, even if the rest of its body came meanwhile.
    parseRaw(req, res, (error?: unknown) => (res.headersSent ? undefined : next(error)));
  };

  // Encoded bodies are read (and inflated) here, so what they inflate to is counted: see encoded-body.ts.
  const refusals: Record<Exclude<EncodedBodyRefusal, 'over_budget' | 'aborted'>, { outcome: ReceiveOutcome; error: () => AppError }> = {
    unsupported_encoding: { outcome: 'unsupported_media_type', error: () => new AppError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported content encoding') },
    too_large: { outcome: 'too_large', error: () => new AppError('PAYLOAD_TOO_LARGE', TOO_LARGE_MESSAGE) },
    malformed: { outcome: 'invalid_payload', error: () => new AppError('BAD_REQUEST', 'Malformed request body') },
  };
  const readEncoded = (req: Request, res: Response, next: NextFunction, encoding: string, client: string) => {
    readEncodedBody(req, { encoding, maxBytes: options.maxBodyBytes, budget: bodyBudget, client }, (result) => {
      if ('body' in result) {
        req.body = result.body;
        return next();
      }
      const provider = res.locals.verifier!.provider;
      if (result.refusal === 'over_budget') return refuseOverBudget(req, res);
      // Nobody reads the answer; not counted (see mapError).
      if (result.refusal === 'aborted') return logger.debug('request aborted mid-body', { provider, path: req.path });
      const refusal = refusals[result.refusal];
      count(res, provider, refusal.outcome);
      next(refusal.error());
    });
  };

  const receiver = options.receiver ?? new WebhookReceiver({ writer: options.writer, queue: options.queue, logger, failures });
  const receive = async (req: Request, res: Response) => {
    const verifier = res.locals.verifier!;
    const handedBack = (req as HandedBack)[RECEIVE_FAILURE];
    if (handedBack) {
      // Received by the direct path already, which failed it: answered here, without verifying a second time.
      req.context.provider = verifier.provider;
      throw handedBack.error;
    }
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const answer = await receiver.receive({
      verifier,
      rawBody,
      headers: req.headers,
      mediaType: mediaTypeOf(req.headers['content-type']),
      context: req.context,
      clientKey: () => clientKeyOf(req),
    });
    count(res, verifier.provider, answer.outcome);
    sendJson(res, answer.statusCode, answer.body);
    answer.enqueue?.();
  };

  // Maps the verifiers' typed errors to status codes and outcomes, then hands over to the common error middleware.
  const mapError = (error: unknown, req: Request, res: Response, next: NextFunction) => {
    const provider = res.locals.verifier?.provider ?? 'unknown';
    if (error instanceof BodyBudgetExceededError || error instanceof StoreQueueFullError) return refuseOverBudget(req, res, error);
    if (error instanceof DuplicateBudgetSpentError) {
      // Verified, and stored before: only the answer changes (429, not 200). The connection stays open: refusing a
      // remembered re-send costs no more than answering it, and a provider's own retries come on it too.
      res.setHeader('Retry-After', String(error.retryAfterSeconds));
      count(res, provider, 'duplicate_rate_limited');
      return next(error);
    }
    if (error instanceof WebhookVerificationError) {
      if (overFailureBudget(req, res)) {
        count(res, provider, 'rate_limited');
        return next(new AppError('TOO_MANY_REQUESTS', 'Too many requests that failed verification; slow down', { cause: error }));
      }
      count(res, provider, 'invalid_signature');
      return next(new AppError('UNAUTHORIZED', error.message, { cause: error }));
    }
    if (error instanceof FailureBudgetSpentError) {
      // Not verified (that needed a download) and not counted: the client is past its budget already, so it is
      // answered as its failures are until the window ends.
      const reset = failures.secondsToReset();
      budgetHeaders(res, failures.failuresOf(clientKeyOf(req)), reset);
      tooManyHeaders(res, reset);
      count(res, provider, 'rate_limited');
      return next(new AppError('TOO_MANY_REQUESTS', error.message, { cause: error }));
    }
    if (error instanceof WebhookPayloadError) {
      count(res, provider, 'invalid_payload');
      return next(new AppError('BAD_REQUEST', error.message, { cause: error }));
    }
    // Storage (or PayPal's certificate downloads) unavailable: 503 with Retry-After, which the error middleware sets.
    if (res.locals.outcome === undefined) {
      const type = (error as { type?: unknown } | null)?.type;
      // The client went away mid-body: no webhook was received, and nobody reads the answer. Not counted (as on the
      // direct path): webhook_events_received_total's outcomes are the contract's list, which has no `aborted`.
      if (type === 'request.aborted') logger.debug('request aborted mid-body', { provider, path: req.path });
      else if (type === 'entity.too.large') count(res, provider, 'too_large');
      // 415 for a content encoding (or charset) the route cannot read: as for a content type it does not take.
      else if (type === 'encoding.unsupported' || type === 'charset.unsupported') count(res, provider, 'unsupported_media_type');
      else if (error instanceof DependencyUnavailableError) count(res, provider, unavailableOutcome(error.dependency));
      else if (typeof type === 'string') count(res, provider, 'invalid_payload');
    }
    next(error);
  };

  router.post(WEBHOOK_ROUTE, resolveProvider, checkContentType, checkDeclaredLength, readRawBody, receive);
  router.use(WEBHOOK_ROUTE, mapError);
  return router;
}

const TOO_LARGE_MESSAGE = 'Request body is too large';
/** Bodies in flight end, or time out (30 s), within seconds; webhooks waiting to be stored are answered as fast. */
const OVER_BUDGET_RETRY_AFTER_SECONDS = 5;

/**
 * The request's budget key (its failures, its share of the body budget and of PayPal's downloads): its connection's
 * address, and the `req.ip` TRUST_PROXY resolves when that is another (see clientBudgetKey).
 */
const clientKeyOf = (req: Request): string => clientBudgetKey(req.socket.remoteAddress, req.ip);

/**
 * Where the ingress's direct path (runtime/webhook-fast-path.ts) leaves the failure of a webhook it read and tried
 * to receive before handing the request to this route, which then answers it (status, failure budget, error shape).
 */
export const RECEIVE_FAILURE = Symbol('webhook receive failure');
type HandedBack = Request & { [RECEIVE_FAILURE]?: { error: unknown } };

/** A JSON answer, byte for byte what `res.status(code).json(body)` sends for a POST (Express adds nothing else here). */
function sendJson(res: Response, statusCode: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.statusCode = statusCode;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}
