import picomatch from 'picomatch';
import type { DestinationConfig, RoutesFile } from './routes-file.js';

/** A configured destination, by name. */
export interface Destination extends DestinationConfig {
  name: string;
}

interface CompiledRoute {
  provider: string;
  matchesType: (eventType: string) => boolean;
  to: string[];
}

/** Which destinations an event goes to, from ROUTES_FILE. Destinations come only from configuration. */
export class RouteTable {
  private readonly routes: CompiledRoute[];
  private readonly destinations: Map<string, Destination>;

  constructor(file: RoutesFile = { destinations: {}, routes: [] }) {
    this.destinations = new Map(Object.entries(file.destinations).map(([name, config]) => [name, { name, ...config }]));
    this.routes = file.routes.map((route) => {
      const matchers = route.events?.map((glob) => picomatch(glob, { dot: true, nocase: false }));
      return {
        provider: route.provider,
        matchesType: matchers ? (eventType) => matchers.some((matches) => matches(eventType)) : () => true,
        to: route.to,
      };
    });
  }

  /** Destinations for an event, each once even when several routes name it, in configuration order. */
  destinationsFor(provider: string, eventType: string): Destination[] {
    const names = new Set<string>();
    for (const route of this.routes) {
      if ((route.provider === provider || route.provider === '*') && route.matchesType(eventType)) {
        for (const name of route.to) names.add(name);
      }
    }
    return [...names].map((name) => this.destinations.get(name)!);
  }
}
