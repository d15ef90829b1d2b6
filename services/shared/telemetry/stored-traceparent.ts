import { randomUUID } from 'node:crypto';

/** A W3C traceparent: version 00, a trace id, a parent span id, flags; ids not all zeros. */
const TRACEPARENT = /^00-(?!0{32})([\da-f]{32})-(?!0{16})[\da-f]{16}-[\da-f]{2}$/;

/**
 * The trace context to store with an event when tracing is off (no span to inject): the provider's own
 * `traceparent` when it sent a valid one, else one that starts a trace under the request's trace id (the one its log
 * lines carry). The worker forwards it, so a destination continues the provider's trace, or ours, either way.
 */
export function traceparentWithoutTracing(incoming: string | string[] | undefined, traceId: string | undefined): string | undefined {
  if (typeof incoming === 'string' && TRACEPARENT.test(incoming)) return incoming;
  if (traceId && /^(?!0{32})[\da-f]{32}$/.test(traceId)) {
    // 16 random hex digits from a uuid (randomUUID draws from a cached pool: cheaper than randomBytes per request).
    const uuid = randomUUID();
    return `00-${traceId}-${uuid.slice(0, 8)}${uuid.slice(9, 13)}${uuid.slice(24, 28)}-01`;
  }
  return undefined;
}

/** The trace id of a stored traceparent, for log lines; undefined when there is none. */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  return traceparent ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
}
