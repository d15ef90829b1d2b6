import type { Destination } from '../routing/route-table.js';
import { destinationType } from '../routing/routes-file.js';
import { injectedTraceHeaders } from './injected-trace-headers.js';

/** Headers every delivery sets itself, whatever the destination type (see WebhookHeaders). */
const EVERY_DELIVERY = ['webhook-id', 'webhook-timestamp', 'x-webhook-provider', 'x-webhook-event-type'];
/** Headers a destination type sets itself on top of those (HttpForwarder.send, NatsPublisher; AMQP's content type is a property). */
const BY_TYPE = { http: ['content-type', 'user-agent'], nats: ['content-type'], amqp: [] } as const;

/**
 * The static headers of `destination` that no delivery sends, because the delivery sets a header of that name itself
 * (names compared case-insensitively, as overrideHeaders does). They are allowed, as they always were, so a routes
 * file that worked still starts; the worker says once at start which ones are left out, so an operator who set a
 * `User-Agent` or a `Content-Type` learns it is not the one sent instead of finding out from the receiver.
 * With tracing on, the trace context it injects (`traceparent`, `tracestate`: {@link injectedTraceHeaders}) is listed
 * too. With tracing off it is not: a static `tracestate` is sent, and a static `traceparent` whenever the event
 * carries no trace context of its own (its stored one goes instead).
 */
export function replacedStaticHeaders(destination: Destination): string[] {
  const own = new Set([
    ...EVERY_DELIVERY,
    ...(destination.secret ? ['webhook-signature'] : []),
    ...BY_TYPE[destinationType(destination)],
    ...injectedTraceHeaders(),
  ]);
  return Object.keys(destination.headers ?? {}).filter((name) => own.has(name.toLowerCase()));
}
