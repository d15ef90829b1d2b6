import { RouteTable, type CompiledRoute, type RoutedDestination } from '../../services/worker/routing/route-table.js';
import type { RouteTransform } from '../../services/worker/routing/route-transform.js';
import { waitFor } from './wait-for.js';

/** A transform the test holds: `started()` once a delivery called it (admitted), evaluated only after `release`. */
export interface HeldTransform {
  started(): Promise<void>;
  release(): void;
}

/**
 * The routes of a RouteTable, whose next transform to start can be held by the test before it evaluates (see
 * {@link holdNextTransform}); every other transform evaluates at once. The compiled JSONata runs either way.
 */
export class RoutesWithHeldTransforms extends RouteTable {
  private held?: { started: () => void; released: Promise<void> };
  /** Each route with its transform wrapped, once: the processor shares a route's transform result by identity. */
  private readonly wrapped = new Map<CompiledRoute, CompiledRoute>();

  holdNextTransform(): HeldTransform {
    let started = false;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    this.held = {
      started: () => {
        started = true;
      },
      released,
    };
    return { started: () => waitFor('the held transform to be called', () => started).then(() => undefined), release };
  }

  override routedDestinationsFor(provider: string, eventType: string): RoutedDestination[] {
    return super.routedDestinationsFor(provider, eventType).map((routed) => ({ ...routed, routes: routed.routes.map((route) => this.withHeldTransform(route)) }));
  }

  private withHeldTransform(route: CompiledRoute): CompiledRoute {
    const transform = route.transform;
    if (!transform) return route;
    let wrapped = this.wrapped.get(route);
    if (!wrapped) {
      const heldTransform: RouteTransform = async (...args) => {
        const held = this.held;
        this.held = undefined;
        if (held) {
          held.started();
          await held.released;
        }
        return transform(...args);
      };
      wrapped = { ...route, transform: heldTransform };
      this.wrapped.set(route, wrapped);
    }
    return wrapped;
  }
}
