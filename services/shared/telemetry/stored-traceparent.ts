import { randomUUID } from 'node:crypto';
import { isValidTraceId, parseTraceparent } from './traceparent.js';

/**
 * The trace context to store with an event when tracing is off (no span to inject): the provider's own
 * `traceparent` when it sent a valid one, else one that starts a trace under the request's trace id (the one its log
 * lines carry). The worker forwards it, so a destination continues the provider's trace, or ours, either way.
 */
export function traceparentWithoutTracing(incoming: string | string[] | undefined, traceId: string | undefined): string | undefined {
  // Forwarded as it came, so only a version-00 one (the version destinations are sure to read).
  if (typeof incoming === 'string' && parseTraceparent(incoming)?.version === '00') return incoming;
  if (isValidTraceId(traceId)) {
    // 16 random hex digits from a uuid (randomUUID draws from a cached pool: cheaper than randomBytes per request).
    const uuid = randomUUID();
    return `00-${traceId}-${uuid.slice(0, 8)}${uuid.slice(9, 13)}${uuid.slice(24, 28)}-01`;
  }
  return undefined;
}

/** The trace id of a stored traceparent, for log lines; undefined when there is none. */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  return parseTraceparent(traceparent)?.traceId;
}
