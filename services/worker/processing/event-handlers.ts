import { compileEventTypeGlob } from '../../shared/routing/event-type-glob.js';

/** What an in-process handler receives. */
export interface HandledEvent {
  id: string;
  provider: string;
  eventType: string;
  payload: unknown;
  rawBody: Buffer;
  /** 1 on the first attempt. */
  attempt: number;
}

/** An in-process processing step; throwing fails the attempt (it is retried like a failed delivery). */
export type EventHandler = (event: HandledEvent) => Promise<void>;

interface Registration {
  name: string;
  provider: string;
  matchesType: (eventType: string) => boolean;
  handler: EventHandler;
}

/**
 * Handlers that run inside the worker next to HTTP forwarding: register one for a provider and event-type glob
 * without touching the worker's core. Each counts as a destination named `handler:<name>`: its attempts are
 * recorded, and once it succeeded for an event it is not run again on that event's retries.
 */
export class EventHandlerRegistry {
  private readonly registrations: Registration[] = [];

  register(name: string, options: { provider: string; events?: string[] }, handler: EventHandler): this {
    if (this.registrations.some((registration) => registration.name === name)) {
      throw new Error(`event handler "${name}" is registered already`);
    }
    // The routes' glob (see compileEventTypeGlob): picomatch's own `*` stopped at `/` and skipped a leading `.`, so a
    // handler for `orders*` or `*` missed Shopify's `orders/create` that a route with the same glob delivered.
    const matchers = options.events?.map(compileEventTypeGlob);
    this.registrations.push({
      name,
      provider: options.provider,
      matchesType: matchers ? (type) => matchers.some((matches) => matches(type)) : () => true,
      handler,
    });
    return this;
  }

  /** Every handler's destination name (`handler:<name>`): the worker's metrics start their series at 0. */
  destinationNames(): string[] {
    return this.registrations.map((r) => `handler:${r.name}`);
  }

  /** The providers handlers are registered for (not `*`): events of those reach this worker. */
  providers(): string[] {
    return [...new Set(this.registrations.map((r) => r.provider).filter((provider) => provider !== '*'))];
  }

  /** Handlers for an event, as `[destinationName, handler]`. */
  handlersFor(provider: string, eventType: string): [string, EventHandler][] {
    return this.registrations
      .filter((r) => (r.provider === provider || r.provider === '*') && r.matchesType(eventType))
      .map((r) => [`handler:${r.name}`, r.handler]);
  }
}
