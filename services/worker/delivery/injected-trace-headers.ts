import { propagation } from '@opentelemetry/api';

/** Injected only from a context that carries baggage, which a delivery's never does (its job carries no baggage). */
const NEVER_INJECTED = new Set(['baggage']);

/**
 * The headers tracing injects into every delivery, from the delivery's span: the registered propagator's fields
 * (`traceparent`, `tracestate` with the default W3C one; none with tracing off, when no propagator is registered),
 * lower-case. The undici instrumentation adds them to an HTTP request after the delivery built its headers, and
 * BrokerPublisher to a message's; a static header of that name, in any case, would be sent next to them, and a
 * receiver would read either value (a `tracestate` written once belongs to no trace the injected `traceparent` names).
 */
export function injectedTraceHeaders(): ReadonlySet<string> {
  return new Set(propagation.fields().map((name) => name.toLowerCase()).filter((name) => !NEVER_INJECTED.has(name)));
}

/** `headers` without those {@link injectedTraceHeaders} names (any case); `headers` itself when it has none. */
export function withoutInjectedTraceHeaders(headers: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> | undefined {
  if (!headers) return headers;
  const injected = injectedTraceHeaders();
  const names = Object.keys(headers);
  if (!names.some((name) => injected.has(name.toLowerCase()))) return headers;
  return Object.fromEntries(names.filter((name) => !injected.has(name.toLowerCase())).map((name) => [name, headers[name]!]));
}
