import { AsyncLocalStorage } from 'node:async_hooks';

/** What we know about the request or job being handled; read by the logger so every line carries it. */
export interface RequestContext {
  correlationId?: string;
  traceId?: string;
  spanId?: string;
  eventId?: string;
  provider?: string;
  /** The webhook's event type, once verified (logged, and put on the request's server span). */
  eventType?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` with `context` visible to {@link currentContext} in everything it calls, sync or async. */
export function runWithContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The context of the request or job in progress, if any. Mutable: later stages add the event id. */
export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}
