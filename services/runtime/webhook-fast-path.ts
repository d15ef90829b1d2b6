import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { context as otelContext, trace } from '@opentelemetry/api';
import { getRPCMetadata, RPCType } from '@opentelemetry/core';
import { BodyBudgetExceededError, BodyMemoryBudget } from '../ingress/ingest/body-memory-budget.js';
import { isAcceptedMediaType, mediaTypeOf } from '../ingress/ingest/content-type.js';
import { clientBudgetKey } from '../shared/http/client-budget-key.js';
import type { WebhookReceiver } from '../ingress/ingest/webhook-receiver.js';
import { RECEIVE_FAILURE } from '../ingress/ingest/webhook-router.js';
import type { ProviderRegistry } from '../ingress/verification/provider-registry.js';
// A name as PROVIDERS_FILE allows it; anything else (percent-encoded, a trailing slash) goes through Express.
import { PROVIDER_NAME_PATTERN } from '../shared/routing/provider-name.js';
import type { WebhookVerifier } from '../ingress/verification/webhook-request.js';
import { DependencyUnavailableError } from '../shared/errors/app-error.js';
import { logAccess } from '../shared/http/access-log.js';
import { errorBody } from '../shared/http/error-response.js';
import { REQUEST_STARTED, requestContextFor } from '../shared/http/request-context-middleware.js';
import { securityHeaderValues } from '../shared/http/security-headers.js';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../shared/http/unavailable-retry-after.js';
import type { Logger } from '../shared/logging/logger.js';
import { runWithContext, type RequestContext } from '../shared/logging/request-context.js';
import { eventsReceived, httpRequestDuration, unavailableOutcome, type ReceiveOutcome } from '../shared/metrics/metrics.js';
// The route as the Express app names it (metrics label, trace span name): one name for both paths.
import { WEBHOOK_ROUTE } from '../shared/http/webhook-route.js';

export interface WebhookFastPathOptions {
  providers: ProviderRegistry;
  receiver: WebhookReceiver;
  maxBodyBytes: number;
  /** The Express app: every request this path does not take, and every webhook it hands back. */
  fallback: RequestListener;
  /** From the preStop announcement on: such answers close their connection, which the Express app does. */
  isTerminating: () => boolean;
  /**
   * The client's address as the Express app's `req.ip` resolves it (its TRUST_PROXY), so a request has the same
   * failure budget, and the same share of the body budget, on both paths. Default: the peer's address (Express without
   * `trust proxy`).
   */
  clientAddress?: (req: IncomingMessage) => string | undefined;
  /**
   * The process's budget for bodies being read, shared with the Express route; without it, one of the default size
   * for this path alone (tests, benchmarks).
   */
  bodyBudget?: BodyMemoryBudget;
  logger: Logger;
}

const PREFIX = '/webhooks/';
const NO_BODY = Buffer.alloc(0);
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * `POST /webhooks/{provider}` without Express, for the requests that make up nearly all of an ingress's work: a
 * known provider, an accepted content type, a declared length within the limit, no content encoding. Express's
 * router, its request and response wrappers and the middleware chain cost about half of the ingress's CPU per
 * request (scripts/bench/ingress-micro.ts); this path does what that chain does for such a request (security
 * headers copied from helmet, correlation and trace ids, the access line, the duration histogram, the trace's
 * route) and shares the route's core (WebhookReceiver), so a webhook is answered the same either way.
 *
 * Everything else goes to Express untouched, and so do the webhooks whose verification or payload fails (with the
 * body read and the failure attached): the Express route then answers them with its failure budget, headers and
 * error shape, so there is one implementation of every refusal.
 */
export class WebhookFastPath {
  private readonly headers: Record<string, string>;
  private readonly bodyBudget: BodyMemoryBudget;

  constructor(private readonly options: WebhookFastPathOptions) {
    this.headers = securityHeaderValues();
    this.bodyBudget = options.bodyBudget ?? BodyMemoryBudget.forMaxBodyBytes(options.maxBodyBytes);
  }

  /** The server's request listener: this path when it takes the request, else the Express app. */
  readonly listener: RequestListener = (req, res) => {
    if (!this.take(req, res)) this.options.fallback(req, res);
  };

  private take(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url;
    if (req.method !== 'POST' || url === undefined || !url.startsWith(PREFIX)) return false;
    const name = url.slice(PREFIX.length);
    if (!PROVIDER_NAME_PATTERN.test(name) || this.options.isTerminating()) return false;
    const verifier = this.options.providers.get(name);
    if (!verifier) return false;
    const mediaType = mediaTypeOf(req.headers['content-type']);
    if (!isAcceptedMediaType(mediaType, verifier.contentTypes)) return false;
    const declared = req.headers['content-length'];
    if (declared === undefined || !/^\d{1,9}$/.test(declared) || Number(declared) > this.options.maxBodyBytes) return false;
    const encoding = req.headers['content-encoding'];
    if ((encoding !== undefined && encoding.toLowerCase() !== 'identity') || req.headers['transfer-encoding'] !== undefined) return false;

    const started = process.hrtime.bigint();
    const context = requestContextFor(req.headers);
    // What annotateServerSpan (tracing.ts) reads when the server span ends, as on the Express path.
    (req as IncomingMessage & { context?: RequestContext }).context = context;
    const rpc = getRPCMetadata(otelContext.active());
    if (rpc?.type === RPCType.HTTP) rpc.route = WEBHOOK_ROUTE;

    const length = Number(declared);
    const chunks: Buffer[] = [];
    const budget = this.bodyBudget;
    // Whose share of the body budget the body is held on (and, if a verifier asks, whose failure budget it is on).
    // Resolved only for a body that does not come in one chunk (~1 µs of proxy chain and address parsing): one that
    // does is read and given back within the tick, so it can hold nothing for anyone, and nearly every webhook does.
    let client: string | undefined;
    const clientKey = () => (client ??= this.clientKeyOf(req));
    let received = 0;
    // Bytes taken from the body budget, given back once the body is read (or refused, or torn down).
    let held = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      // The bytes that complete the body (all of it, for a body that came in one read: nearly every webhook) are not
      // taken from the budget, which bounds bodies still arriving: these are read already and the body goes on to
      // verification at once ('end' is next), so refusing it would free nothing. It only turned a correctly signed
      // webhook away (503) while stalled bodies from four addresses (or IPv6 /56s: four shares) held the budget.
      if (received + chunk.length !== length) {
        clientKey();
        if (!budget.take(chunk.length, client)) {
          // The Express route answers (503): what was read is dropped, and so is the rest until the connection closes.
          refused = true;
          budget.release(held, client);
          held = 0;
          chunks.length = 0;
          return this.handBack(req, res, { rawBody: NO_BODY, started }, new BodyBudgetExceededError());
        }
        held += chunk.length;
      }
      chunks.push(chunk);
      received += chunk.length;
    });
    req.on('end', () => {
      if (refused) return;
      budget.release(held, client);
      held = 0;
      // Node's parser ends the body at the declared length; fewer bytes means the client went away mid-body.
      if (received !== length) return void res.destroy();
      const rawBody = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      runWithContext(context, () => void this.receive(req, res, { verifier, rawBody, mediaType, context, started, clientKey }));
    });
    // The client went away mid-body ('aborted', or the request timed out): not counted, as on the Express route (see
    // its mapError).
    req.on('error', () => {
      budget.release(held, client);
      held = 0;
      if (refused) return;
      this.options.logger.debug('request aborted mid-body', { provider: verifier.provider, path: url });
      res.destroy();
    });
    return true;
  }

  private async receive(
    req: IncomingMessage,
    res: ServerResponse,
    webhook: { verifier: WebhookVerifier; rawBody: Buffer; mediaType: string; context: RequestContext; started: bigint; clientKey: () => string },
  ): Promise<void> {
    const { verifier, rawBody, context, clientKey } = webhook;
    let statusCode: number;
    let outcome: ReceiveOutcome;
    let body: unknown;
    let enqueue: (() => void) | undefined;
    let retryAfter: { 'Retry-After': string } | undefined;
    try {
      const answer = await this.options.receiver.receive({ verifier, rawBody, headers: req.headers, mediaType: webhook.mediaType, context, clientKey });
      ({ statusCode, outcome, body, enqueue } = answer);
    } catch (error) {
      if (!(error instanceof DependencyUnavailableError)) return this.handBack(req, res, webhook, error);
      if (!error.logged) {
        this.options.logger.warn('request failed', { path: PREFIX + verifier.provider, code: error.code, dependency: error.dependency, cause: error.cause });
      }
      statusCode = error.statusCode;
      outcome = unavailableOutcome(error.dependency);
      body = errorBody(statusCode, req.url!, error.message, context, error.code);
      // As the Express route answers it (mapError in webhook-router.ts).
      retryAfter = { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS) };
    }
    eventsReceived.inc({ provider: verifier.provider, outcome });
    trace.getActiveSpan()?.setAttributes({ 'webhook.provider': verifier.provider, 'webhook.outcome': outcome });
    (res as ServerResponse & { locals?: { outcome?: string } }).locals = { outcome };

    const json = JSON.stringify(body);
    res.writeHead(statusCode, { ...this.headers, 'X-Correlation-Id': context.correlationId!, 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(json), ...retryAfter });
    res.end(json);
    enqueue?.();

    const seconds = Number(process.hrtime.bigint() - webhook.started) / 1e9;
    httpRequestDuration.observe({ method: 'POST', route: WEBHOOK_ROUTE, status_code: String(statusCode) }, seconds);
    if (this.options.logger.isInfoEnabled()) {
      logAccess(this.options.logger, 'info', {
        method: 'POST',
        path: req.url!,
        statusCode,
        durationMs: Math.round(seconds * 1000),
        outcome,
        eventId: context.eventId,
      });
    }
  }

  /** The request's client key, as the Express route computes it from `req.ip` (clientKeyOf in webhook-router.ts). */
  private clientKeyOf(req: IncomingMessage): string {
    const resolve = this.options.clientAddress;
    return clientBudgetKey(req.socket.remoteAddress, resolve ? resolve(req) : req.socket.remoteAddress);
  }

  /**
   * A webhook refused by verification (or failing unexpectedly): the Express route answers it, with the body read
   * and the failure given (it does not verify again: a PayPal failure may have cost a certificate download).
   */
  private handBack(req: IncomingMessage, res: ServerResponse, webhook: { rawBody: Buffer; started: bigint }, error: unknown): void {
    const request = req as IncomingMessage & { body?: unknown; [RECEIVE_FAILURE]?: { error: unknown }; [REQUEST_STARTED]?: bigint };
    // body-parser reads nothing from a request whose body has ended, and leaves `body` as it finds it.
    request.body = webhook.rawBody;
    request[RECEIVE_FAILURE] = { error };
    // Express's middlewares keep req.context (set in take()) and time the request from its first byte.
    request[REQUEST_STARTED] = webhook.started;
    this.options.fallback(req, res);
  }
}
