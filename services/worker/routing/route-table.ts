import { compileEventTypeGlob } from '../../shared/routing/event-type-glob.js';
import { destinationPolicy, type DestinationPolicy } from '../../shared/destinations/destination-policy.js';
import { compileRouteFilter, type RouteFilter } from './route-filter.js';
import { compileRouteTransform, type RouteTransform } from './route-transform.js';
import type { DestinationConfig, RoutesFile } from './routes-file.js';

/**
 * A configured destination, by name, with its protection resolved (`policy`: rate limit, and circuit breaker from
 * its own setting or `defaults`); absent `policy` (a destination built by hand) means none.
 */
export type Destination = DestinationConfig & { name: string; policy?: DestinationPolicy };

/** A route, compiled: what it matches, what it may filter out, and what it makes of the payload. */
export interface CompiledRoute {
  /** The route's position in ROUTES_FILE's `routes` (0-based), as messages name it: `routes.<index>`. */
  index: number;
  provider: string;
  matchesType: (eventType: string) => boolean;
  to: string[];
  /** Absent: the route takes every event it matches. */
  filter?: RouteFilter;
  /** Absent: the provider's original bytes are sent. */
  transform?: RouteTransform;
}

/**
 * One destination an event is routed to, with the routes that name it and match the event's provider and type, in
 * file order. The first of them whose `filter` takes the event (a route without one takes every event) decides what
 * the destination is sent (its `transform`); when none does, the destination is sent nothing. A destination gets an
 * event at most once however many routes name it: its deliveries, and the "already delivered" bookkeeping, are by
 * destination name.
 */
export interface RoutedDestination {
  destination: Destination;
  routes: CompiledRoute[];
}

/** Which destinations an event goes to, from ROUTES_FILE. Destinations come only from configuration. */
export class RouteTable {
  private readonly routes: CompiledRoute[];
  private readonly destinations: Map<string, Destination>;

  /**
   * `transformOutputBytes`: the largest body a transform may send (the worker gives MAX_BODY_BYTES).
   * @throws when a route's filter or transform does not compile (parseRoutes refuses such a file first).
   */
  constructor(file: RoutesFile = { destinations: {}, routes: [] }, { transformOutputBytes }: { transformOutputBytes?: number } = {}) {
    this.destinations = new Map(Object.entries(file.destinations).map(([name, config]) => [name, { name, ...config, policy: destinationPolicy(file, name) }]));
    this.routes = file.routes.map((route, index) => {
      const matchers = route.events?.map(compileEventTypeGlob);
      return {
        index,
        provider: route.provider,
        matchesType: matchers ? (eventType) => matchers.some((matches) => matches(eventType)) : () => true,
        to: route.to,
        ...(route.filter ? { filter: compileRouteFilter(route.filter) } : {}),
        ...(route.transform ? { transform: compileRouteTransform(route.transform, { maxOutputBytes: transformOutputBytes }) } : {}),
      };
    });
  }

  /** Every configured destination, in configuration order. */
  allDestinations(): Destination[] {
    return [...this.destinations.values()];
  }

  /** Destinations for an event, each once even when several routes name it, in configuration order (filters aside). */
  destinationsFor(provider: string, eventType: string): Destination[] {
    return this.routedDestinationsFor(provider, eventType).map((routed) => routed.destination);
  }

  /** Each destination routes name for this provider and type, once, in first-mention order, with those routes. */
  routedDestinationsFor(provider: string, eventType: string): RoutedDestination[] {
    const byName = new Map<string, RoutedDestination>();
    for (const route of this.routes) {
      if ((route.provider === provider || route.provider === '*') && route.matchesType(eventType)) {
        for (const name of route.to) {
          let routed = byName.get(name);
          if (!routed) {
            routed = { destination: this.destinations.get(name)!, routes: [] };
            byName.set(name, routed);
          }
          // A route naming the same destination twice is one candidate.
          if (routed.routes.at(-1) !== route) routed.routes.push(route);
        }
      }
    }
    return [...byName.values()];
  }
}
