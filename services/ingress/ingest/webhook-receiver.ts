import type { IncomingHttpHeaders } from 'node:http';
import { context as otelContext, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import { isDatabaseUnavailable } from '../../shared/database/database-errors.js';
import { traceparentWithoutTracing } from '../../shared/telemetry/stored-traceparent.js';
import { DependencyUnavailableError } from '../../shared/errors/app-error.js';
import type { Logger } from '../../shared/logging/logger.js';
import type { RequestContext } from '../../shared/logging/request-context.js';
import { enqueueFailures } from '../../shared/metrics/metrics.js';
import type { EventQueue } from '../../shared/queue/event-queue.js';
import type { WebhookClient, WebhookVerifier } from '../verification/webhook-request.js';
import type { EventWriter } from './event-writer.js';
import { keptHeaders } from './kept-headers.js';
import { ClientFailureLimiter } from '../../shared/http/client-failure-limiter.js';
import type { DuplicateBudget, WebhookIdentity } from './duplicate-budget.js';
import { DuplicateBudgetSpentError } from './duplicate-budget-spent-error.js';

/** A webhook whose provider and content type were accepted and whose body was read, raw, within the limit. */
export interface IncomingWebhook {
  verifier: WebhookVerifier;
  rawBody: Buffer;
  headers: IncomingHttpHeaders;
  /** The media type of `Content-Type`, parameters removed. */
  mediaType: string;
  /** The request's context: gains the provider, event type and event id as they are learned. */
  context: RequestContext;
  /**
   * The client's budget key (clientBudgetKey of the connection's address and the one TRUST_PROXY resolves, Express's
   * `req.ip`): whose budget the request is on. A function, read only when a verifier needs the client
   * (a PayPal certificate download) or a duplicate is counted or may be refused (DuplicateBudget); the callers have it
   * at hand (their body budget is kept per client too).
   */
  clientKey?: () => string;
}

/** How a stored webhook is answered: 202 for a new event, 200 for one stored before. */
export interface WebhookAnswer {
  statusCode: 200 | 202;
  body: { id: string; status: string; duplicate: boolean };
  outcome: 'accepted' | 'duplicate';
  /** For a new event: queues its job; call it after the answer is sent (a Redis outage delays nobody). */
  enqueue?: () => void;
}

export interface WebhookReceiverOptions {
  writer: EventWriter;
  queue: EventQueue;
  logger: Logger;
  /**
   * The failed-verification budget the webhook route counts failures in (the route takes this one): verifiers read
   * it before work a forger could ask for at will. Without it, no request is held back for its client's failures.
   */
  failures?: ClientFailureLimiter;
  /**
   * Duplicates answered per client (see {@link DuplicateBudget}); past it, that client's duplicates are refused 429.
   * Without it, every duplicate is answered 200.
   */
  duplicates?: DuplicateBudget;
}

const tracer = trace.getTracer('event-driven-integration-service/ingress');

/**
 * The heart of `POST /webhooks/{provider}`, without HTTP framework: verify the signature on the raw bytes, store the
 * event once, answer, then enqueue. Used by the Express route and by the ingress's direct path for the common case
 * (see webhook-fast-path.ts), so both answer the same way.
 * @throws {WebhookVerificationError} the signature or timestamp does not check out (401, or 429 past the budget)
 * @throws {FailureBudgetSpentError} verifying would cost a download for a client past its failure budget (429)
 * @throws {WebhookPayloadError} the signed body is not a usable event (400)
 * @throws {DuplicateBudgetSpentError} a duplicate from a client past its duplicate budget (429; stored already)
 * @throws {DependencyUnavailableError} PostgreSQL could not be reached (503)
 */
export class WebhookReceiver {
  constructor(private readonly options: WebhookReceiverOptions) {}

  /** The failed-verification budget verifiers read (see {@link WebhookReceiverOptions.failures}). */
  get failures(): ClientFailureLimiter | undefined {
    return this.options.failures;
  }

  async receive(webhook: IncomingWebhook): Promise<WebhookAnswer> {
    const { verifier, rawBody, headers, context } = webhook;
    const provider = verifier.provider;
    const requestContext = otelContext.active();
    const span = trace.getActiveSpan();
    span?.setAttribute('webhook.provider', provider);
    context.provider = provider;
    const client = this.clientOf(webhook.clientKey);

    const verified = await tracer.startActiveSpan('webhook.verify', async (verifySpan) => {
      try {
        return await verifier.verify({ rawBody, headers, contentType: webhook.mediaType, client });
      } catch (error) {
        verifySpan.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        verifySpan.end();
      }
    });
    span?.setAttribute('webhook.event_type', verified.eventType);
    context.eventType = verified.eventType;

    // A re-send this process remembers from a client that spent its budget, while that client is still past it:
    // refused without asking PostgreSQL (see DuplicateBudget). A new event never is: the budget does not remember it;
    // nor is PayPal's retry (a new transmission), which storage must bind to its event.
    const duplicates = this.options.duplicates;
    const identity: WebhookIdentity = {
      provider,
      externalId: verified.externalId,
      replayKey: verified.replayKey?.key,
      replayKeyOnReuse: verified.replayKey?.onReuse,
    };
    const refusal = duplicates?.refusalBeforeStoring(identity, () => client.key);
    if (duplicates && refusal !== undefined) throw new DuplicateBudgetSpentError(duplicates.retryAfterSeconds(), refusal);

    // Carry the trace to the worker: the stored traceparent lets even a reconciled job join this trace.
    const carrier: Record<string, string> = {};
    propagation.inject(otelContext.active(), carrier);
    if (!carrier.traceparent) {
      // Tracing off: no span to inject, but the trace context still travels (the provider's, or one under our trace id).
      const traceparent = traceparentWithoutTracing(headers.traceparent, context.traceId);
      if (traceparent) carrier.traceparent = traceparent;
    }

    let stored;
    try {
      stored = await tracer.startActiveSpan('webhook.store', async (storeSpan) => {
        try {
          return await this.options.writer.insert({
            provider,
            externalId: verified.externalId,
            eventType: verified.eventType,
            payload: verified.payload,
            rawBody,
            contentType: webhook.mediaType,
            headers: keptHeaders(headers, verifier.keptHeaders),
            correlationId: context.correlationId ?? null,
            traceId: context.traceId ?? null,
            traceparent: carrier.traceparent ?? null,
            replayKey: verified.replayKey ?? null,
          });
        } finally {
          storeSpan.end();
        }
      });
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw new DependencyUnavailableError('database', { cause: error });
      throw error;
    }
    context.eventId = stored.id;
    span?.setAttribute('webhook.event_id', stored.id);
    span?.setAttribute('webhook.duplicate', stored.duplicate);

    if (stored.duplicate) {
      if (duplicates) this.chargeDuplicate(duplicates, identity, stored.replayKeyHeld === true, client.key, stored.idNotHeld !== true);
      return { statusCode: 200, body: { id: stored.id, status: stored.status, duplicate: true }, outcome: 'duplicate' };
    }
    const eventId = stored.id;
    return {
      statusCode: 202,
      body: { id: eventId, status: 'PENDING', duplicate: false },
      outcome: 'accepted',
      // After the commit and the answer: the reconciler catches a failed enqueue. The span is this event's own, in this
      // request's trace, from the call until its batch is in Redis; the batch's Redis commands belong to no one
      // request's trace (see EventQueue).
      enqueue: () => {
        const enqueueSpan = tracer.startSpan('webhook.enqueue', { attributes: { 'webhook.event_id': eventId } }, requestContext);
        void this.options.queue.enqueue({ eventId, traceparent: carrier.traceparent, tracestate: carrier.tracestate }).then(
          () => enqueueSpan.end(),
          (error: unknown) => {
            enqueueSpan.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
            enqueueSpan.end();
            enqueueFailures.inc();
            this.options.logger.warn('enqueue failed; the reconciler will enqueue the event later', { eventId, error });
          },
        );
      },
    };
  }

  /** Counts a duplicate against its client; throws DuplicateBudgetSpentError for one past the client's budget. */
  private chargeDuplicate(duplicates: DuplicateBudget, identity: WebhookIdentity, replayKeyHeld: boolean, clientKey: string, idHeld: boolean): void {
    const standing = duplicates.recordDuplicate(identity, replayKeyHeld, clientKey, idHeld);
    if (standing === 'within') return;
    if (standing === 'spent') {
      // Once per client and window: a captured delivery being re-sent, or a provider retrying far more than usual.
      this.options.logger.warn('duplicate webhooks from this client address reached the limit; its further duplicates are refused with 429 until the window ends', {
        client: clientKey,
        provider: identity.provider,
        limit: duplicates.limit,
      });
      return;
    }
    throw new DuplicateBudgetSpentError(duplicates.retryAfterSeconds(), duplicates.refusalAfterStoring(identity, replayKeyHeld));
  }

  /** The sender as verifiers see it; its key is computed only if a verifier or the duplicate budget asks (most never do). */
  private clientOf(clientKey: (() => string) | undefined): WebhookClient {
    const failures = this.options.failures;
    let key: string | undefined;
    return {
      get key() {
        return (key ??= clientKey?.() ?? ClientFailureLimiter.keyFor(undefined));
      },
      hasSpentFailureBudget() {
        return failures?.hasSpentBudget(this.key) ?? false;
      },
    };
  }
}
