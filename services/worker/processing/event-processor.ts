import { context as otelContext, propagation, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import type { Logger } from '../../shared/logging/logger.js';
import { deliveryAttempts, deliveryDuration, eventsProcessed, processingDuration } from '../../shared/metrics/metrics.js';
import type { EventJobData } from '../../shared/queue/event-job.js';
import type { BrokerDeliverers } from '../delivery/broker-publishers.js';
import type { Deliverer, OutgoingMessage } from '../delivery/deliverer.js';
import type { DeliveryResult } from '../delivery/delivery-result.js';
import type { HttpForwarder } from '../delivery/http-forwarder.js';
import { withoutCredentials } from '../delivery/url-without-credentials.js';
import type { RouteFilterInput } from '../routing/route-filter.js';
import type { RouteInput, RouteInputSource } from '../routing/route-input-reader.js';
import type { CompiledRoute, Destination, RoutedDestination, RouteTable } from '../routing/route-table.js';
import { RouteTransformError } from '../routing/route-transform.js';
import { destinationType } from '../routing/routes-file.js';
import { DeliveryFailedError } from './delivery-failed-error.js';
import type { EventHandler, EventHandlerRegistry, HandledEvent } from './event-handlers.js';
import type { ClaimedEvent, ProcessingStore } from './processing-store.js';

export interface EventProcessorOptions {
  store: ProcessingStore;
  routes: RouteTable;
  handlers: EventHandlerRegistry;
  /** Delivers to `http` destinations. */
  forwarder: HttpForwarder;
  /** Deliver to `amqp` and `nats` destinations; a destination whose type has none here is a failed attempt. */
  publishers?: BrokerDeliverers;
  /**
   * Reads the payload and kept headers for route filters and transforms (and handlers). Without it the store's
   * payload is read and filters see no headers (tests that build a processor directly).
   */
  routeInputs?: RouteInputSource;
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
   * destination the signer cannot sign for, a transform failing on this payload) is that destination's failed
   * attempt, recorded like any other, so the event moves on to FAILED (retry) and finally DEAD_LETTER instead of
   * being stranded in PROCESSING. A destination that every route naming it filters the event out for is sent nothing
   * and records nothing: when no destination is left, the event is COMPLETED with nothing delivered.
   */
  private async deliver(event: ClaimedEvent): Promise<DeliveryResult[]> {
    const done = new Set(event.delivered);
    const routed = this.options.routes.routedDestinationsFor(event.provider, event.eventType).filter((r) => !done.has(r.destination.name));
    const handlers = this.options.handlers.handlersFor(event.provider, event.eventType).filter(([name]) => !done.has(name));
    const work = this.routeWork(event);

    const deliveries = routed.map((r) => this.deliverRouted(event, r, work));
    const inProcess = handlers.map(([name, handler]) => this.runHandler(event, name, handler, async () => (await work.input()).payload));
    const results = await Promise.all([...deliveries, ...inProcess]);
    return results.filter((result): result is DeliveryResult => result !== undefined);
  }

  /**
   * What routes read of this event, each read or computed at most once per attempt and only when needed: the payload
   * and kept headers (one query, never made for plain forwards, which send the raw bytes the claim returned), the
   * filters' input, and each route's transform result (shared by that route's destinations).
   */
  private routeWork(event: ClaimedEvent): RouteWork {
    let input: Promise<RouteInput> | undefined;
    let filterInput: Promise<RouteFilterInput> | undefined;
    const transformed = new Map<CompiledRoute, Promise<Buffer>>();
    const readInput = () =>
      (input ??= this.options.routeInputs
        ? this.options.routeInputs.read(event.id)
        : this.options.store.payload(event.id).then((payload) => ({ payload, headers: {} })));
    return {
      input: readInput,
      filterInput: () =>
        (filterInput ??= readInput().then(({ payload, headers }) => ({ body: payload, headers, provider: event.provider, eventType: event.eventType }))),
      transformed: (route) => {
        let body = transformed.get(route);
        if (!body) {
          body = readInput().then(({ payload, headers }) => route.transform!(payload, { id: event.id, provider: event.provider, eventType: event.eventType, headers }));
          body.catch(() => undefined); // each destination of the route reports it
          transformed.set(route, body);
        }
        return body;
      },
    };
  }

  /**
   * The first route naming this destination whose filter takes the event decides what it is sent; undefined when
   * every one filters it out.
   */
  private async deliverRouted(event: ClaimedEvent, routed: RoutedDestination, work: RouteWork): Promise<DeliveryResult | undefined> {
    const started = performance.now();
    let chosen: CompiledRoute | undefined;
    try {
      for (const route of routed.routes) {
        if (!route.filter || route.filter(await work.filterInput())) {
          chosen = route;
          break;
        }
      }
    } catch (error) {
      const result = this.internalFailure(event, routed.destination.name, error, started);
      this.observe(result);
      return result;
    }
    return chosen ? this.deliverTo(event, routed.destination, chosen, work) : undefined;
  }

  private deliverTo(event: ClaimedEvent, destination: Destination, route: CompiledRoute, work: RouteWork): Promise<DeliveryResult> {
    const started = performance.now();
    const type = destinationType(destination);
    const attributes = {
      'webhook.destination': destination.name,
      'webhook.destination.type': type,
      'webhook.route': route.index,
      'webhook.transformed': route.transform !== undefined,
      'url.full': withoutCredentials(destination.url),
    };
    return tracer.startActiveSpan('webhook.deliver', { attributes }, async (span) => {
      let result: DeliveryResult;
      try {
        const message: OutgoingMessage = route.transform
          ? { body: await work.transformed(route), contentType: 'application/json' }
          : { body: event.rawBody, contentType: event.contentType };
        // HTTP: the undici instrumentation makes the client span under this one and sends its traceparent; the
        // broker publishers make a producer span and carry its context in the message headers.
        result = await this.delivererFor(type).deliver(event, destination, message);
      } catch (error) {
        result =
          error instanceof RouteTransformError
            ? this.transformFailure(event, destination.name, route, error, started)
            : this.internalFailure(event, destination.name, error, started);
      }
      try {
        this.observe(result);
        if (type === 'http') span.setAttribute('http.response.status_code', result.statusCode ?? 0);
        if (!result.succeeded) span.setStatus({ code: SpanStatusCode.ERROR, message: result.error ?? result.result });
      } finally {
        span.end();
      }
      return result;
    });
  }

  private delivererFor(type: ReturnType<typeof destinationType>): Deliverer {
    if (type === 'http') return this.options.forwarder;
    const deliverer = this.options.publishers?.[type];
    if (!deliverer) throw new Error(`no deliverer for destination type "${type}" in this worker`);
    return deliverer;
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

  /**
   * A route's transform that failed on this event's payload, as the destination's failed attempt carrying JSONata's
   * reason (in the attempt's error and the event's lastError). Counted with result `internal_error`: the worker could
   * not build the message.
   */
  private transformFailure(event: ClaimedEvent, destination: string, route: CompiledRoute, error: RouteTransformError, started: number): DeliveryResult {
    const message = `transform of routes.${route.index} failed: ${error.message}`.slice(0, 512);
    this.options.logger.warn('route transform failed; recorded as a failed attempt', { eventId: event.id, destination, attempt: event.attempts, error: message });
    return { destination, succeeded: false, result: 'internal_error', statusCode: null, error: message, durationMs: Math.round(performance.now() - started) };
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

/** What routes read of one event during one attempt, each at most once (see EventProcessor.routeWork). */
interface RouteWork {
  input(): Promise<RouteInput>;
  filterInput(): Promise<RouteFilterInput>;
  transformed(route: CompiledRoute): Promise<Buffer>;
}

/** An error's message (its name when it has none), bounded for the attempts table; anything thrown is allowed. */
function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message || error.name : String(error);
  return message.slice(0, 512);
}
