import { context as otelContext, propagation, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import type { Logger } from '../../shared/logging/logger.js';
import { deliveryAttempts, deliveryDuration, eventsProcessed, processingDuration } from '../../shared/metrics/metrics.js';
import type { EventJobData } from '../../shared/queue/event-job.js';
import type { DeliveryResult } from '../delivery/delivery-result.js';
import type { HttpForwarder } from '../delivery/http-forwarder.js';
import type { Destination, RouteTable } from '../routing/route-table.js';
import { DeliveryFailedError } from './delivery-failed-error.js';
import type { EventHandler, EventHandlerRegistry, HandledEvent } from './event-handlers.js';
import type { ClaimedEvent, ProcessingStore } from './processing-store.js';

export interface EventProcessorOptions {
  store: ProcessingStore;
  routes: RouteTable;
  handlers: EventHandlerRegistry;
  forwarder: HttpForwarder;
  /** Attempts in total (JOB_ATTEMPTS); the event is DEAD_LETTER after the last. */
  maxAttempts: number;
  logger: Logger;
}

export type ProcessOutcome = 'completed' | 'skipped';

const tracer = trace.getTracer('event-driven-integration-service/worker');

/**
 * One processing attempt of one event: claim it (PENDING/FAILED → PROCESSING), deliver it to every routed
 * destination that has not taken it yet, record each attempt, and end COMPLETED, FAILED (retry) or DEAD_LETTER.
 */
export class EventProcessor {
  constructor(private readonly options: EventProcessorOptions) {}

  /**
   * @param isLastQueueAttempt whether BullMQ will not retry this job again (its attempts are used up).
   * @throws {DeliveryFailedError} when a destination failed; `final` tells whether the event is dead-lettered.
   */
  async process(job: EventJobData, isLastQueueAttempt: boolean): Promise<ProcessOutcome> {
    const parent: Context = job.traceparent
      ? propagation.extract(otelContext.active(), { traceparent: job.traceparent, tracestate: job.tracestate ?? '' })
      : otelContext.active();
    return tracer.startActiveSpan('webhook.process', { attributes: { 'webhook.event_id': job.eventId } }, parent, async (span) => {
      try {
        return await this.run(job, isLastQueueAttempt);
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  private async run(job: EventJobData, isLastQueueAttempt: boolean): Promise<ProcessOutcome> {
    const { store, logger } = this.options;
    const started = performance.now();
    const event = await store.claim(job.eventId);
    if (!event) {
      logger.info('event already finished; stale job skipped', { eventId: job.eventId });
      return 'skipped';
    }
    const span = trace.getActiveSpan();
    span?.setAttributes({ 'webhook.provider': event.provider, 'webhook.event_type': event.eventType, 'webhook.attempt': event.attempts });

    const results = await this.deliver(event);
    const failures = results.filter((result) => !result.succeeded);
    processingDuration.observe({ provider: event.provider }, (performance.now() - started) / 1000);

    if (failures.length === 0) {
      await store.finish(event, results, 'COMPLETED', null);
      eventsProcessed.inc({ provider: event.provider, status: 'completed' });
      // Guarded: winston builds a line before its transport drops it by level.
      if (logger.isInfoEnabled()) logger.info('event completed', { eventId: event.id, provider: event.provider, eventType: event.eventType, attempt: event.attempts, deliveries: results.length });
      return 'completed';
    }

    const lastError = failures.map((f) => `${f.destination}: ${f.error}`).join('; ').slice(0, 2000);
    const final = isLastQueueAttempt || event.attempts >= this.options.maxAttempts;
    await store.finish(event, results, final ? 'DEAD_LETTER' : 'FAILED', lastError);
    eventsProcessed.inc({ provider: event.provider, status: final ? 'dead_letter' : 'failed' });
    logger.warn(final ? 'event dead-lettered' : 'event attempt failed; retry scheduled', {
      eventId: event.id,
      provider: event.provider,
      eventType: event.eventType,
      attempt: event.attempts,
      lastError,
    });
    throw new DeliveryFailedError(lastError, final);
  }

  /**
   * Delivers to every routed destination and handler that has not succeeded for this event yet, in parallel.
   * Each ends in a result, never an exception: whatever throws while delivering to one destination (a bug, a
   * destination the signer cannot sign for) is that destination's failed attempt, recorded like any other, so the
   * event moves on to FAILED (retry) and finally DEAD_LETTER instead of being stranded in PROCESSING.
   */
  private async deliver(event: ClaimedEvent): Promise<DeliveryResult[]> {
    const done = new Set(event.delivered);
    const destinations = this.options.routes.destinationsFor(event.provider, event.eventType).filter((d) => !done.has(d.name));
    const handlers = this.options.handlers.handlersFor(event.provider, event.eventType).filter(([name]) => !done.has(name));
    // Read once, only when a handler needs it (HTTP forwarding sends the raw bytes).
    let payload: Promise<unknown> | undefined;
    const payloadOnce = () => (payload ??= this.options.store.payload(event.id));

    const forwards = destinations.map((destination) => this.forwardTo(event, destination));
    const inProcess = handlers.map(([name, handler]) => this.runHandler(event, name, handler, payloadOnce));
    return Promise.all([...forwards, ...inProcess]);
  }

  private forwardTo(event: ClaimedEvent, destination: Destination): Promise<DeliveryResult> {
    const started = performance.now();
    const attributes = { 'webhook.destination': destination.name, 'url.full': withoutCredentials(destination.url) };
    return tracer.startActiveSpan('webhook.deliver', { attributes }, async (span) => {
      let result: DeliveryResult;
      try {
        // The undici instrumentation makes the HTTP client span under this one and sends its traceparent.
        result = await this.options.forwarder.forward(event, destination);
      } catch (error) {
        result = this.internalFailure(event, destination.name, error, started);
      }
      try {
        this.observe(result);
        span.setAttribute('http.response.status_code', result.statusCode ?? 0);
        if (!result.succeeded) span.setStatus({ code: SpanStatusCode.ERROR, message: result.error ?? result.result });
      } finally {
        span.end();
      }
      return result;
    });
  }

  private async runHandler(event: ClaimedEvent, name: string, handler: EventHandler, payload: () => Promise<unknown>): Promise<DeliveryResult> {
    const started = performance.now();
    let handled: HandledEvent;
    try {
      handled = { id: event.id, provider: event.provider, eventType: event.eventType, payload: await payload(), rawBody: event.rawBody, attempt: event.attempts };
    } catch (error) {
      const result = this.internalFailure(event, name, error, started);
      this.observe(result);
      return result;
    }
    let result: DeliveryResult;
    try {
      await handler(handled);
      result = { destination: name, succeeded: true, result: 'success', statusCode: null, error: null, durationMs: Math.round(performance.now() - started) };
    } catch (error) {
      result = {
        destination: name,
        succeeded: false,
        result: 'handler_error',
        statusCode: null,
        error: describeError(error),
        durationMs: Math.round(performance.now() - started),
      };
    }
    this.observe(result);
    return result;
  }

  /** An exception inside the worker while delivering to `destination`, as that destination's failed attempt. */
  private internalFailure(event: ClaimedEvent, destination: string, error: unknown, started: number): DeliveryResult {
    this.options.logger.error('delivery failed inside the worker; recorded as a failed attempt', { eventId: event.id, destination, attempt: event.attempts, error });
    return {
      destination,
      succeeded: false,
      result: 'internal_error',
      statusCode: null,
      error: `internal error: ${describeError(error)}`,
      durationMs: Math.round(performance.now() - started),
    };
  }

  private observe(result: DeliveryResult): void {
    deliveryAttempts.inc({ destination: result.destination, result: result.result });
    deliveryDuration.observe({ destination: result.destination }, result.durationMs / 1000);
  }
}

/** A URL fit for traces: user and password (if a destination URL carries them) are dropped. */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** An error's message (its name when it has none), bounded for the attempts table; anything thrown is allowed. */
function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message || error.name : String(error);
  return message.slice(0, 512);
}
