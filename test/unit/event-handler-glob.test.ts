import { describe, expect, it } from '@jest/globals';
import { compileEventTypeGlob } from '../../services/shared/routing/event-type-glob.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';

const noop = async () => undefined;

/** Whether a handler registered for `glob` runs on an event of `eventType`. */
const handlerRuns = (glob: string, eventType: string): boolean =>
  new EventHandlerRegistry().register('h', { provider: 'shopify', events: [glob] }, noop).handlersFor('shopify', eventType).length === 1;

describe('event handler globs', () => {
  // Shopify's topics hold a slash; picomatch's own `*` stops at it, so such a handler never ran for an event a route
  // with the same glob delivered.
  it.each([
    ['*', 'orders/create'],
    ['orders*', 'orders/create'],
    ['orders/*', 'orders/create'],
    ['*create', 'orders/create'],
    ['*', '.hidden'],
  ])('%s matches %s', (glob, eventType) => {
    expect(handlerRuns(glob, eventType)).toBe(true);
  });

  it('match the event types a route with the same glob matches', () => {
    const globs = ['*', 'orders*', 'orders/*', '*.succeeded', 'payment_intent.*', 'push', '{push,pull_request}', 'invoice.?aid', 'orders/**'];
    const types = ['orders/create', 'orders', 'payment_intent.succeeded', 'invoice.paid', 'push', 'pull_request', 'a/b/c', '.x', 'PUSH'];
    for (const glob of globs) {
      const route = compileEventTypeGlob(glob);
      for (const type of types) expect([glob, type, handlerRuns(glob, type)]).toEqual([glob, type, route(type)]);
    }
  });

  it('still skips types the glob does not match', () => {
    expect(handlerRuns('orders/*', 'customers/create')).toBe(false);
    expect(handlerRuns('push', 'PUSH')).toBe(false);
  });
});
