import picomatch from 'picomatch';

/**
 * An event type is not a path: picomatch's `*` stops at `/`, so `*` missed Shopify-style types (`orders/create`) and
 * `orders*` missed `orders/create`. The slash is swapped for a character globs give no meaning, in the glob and the
 * type alike, so `*` matches any run of characters, `/` included, as it does `.`.
 */
const SLASH = /\//g;
const withoutSlashes = (value: string): string => value.replace(SLASH, '\uE000');

/**
 * A route's `events` glob as a matcher of event types: the worker's routing and the admin API's view of which routes
 * an event matched use this one definition, so they never disagree.
 */
export function compileEventTypeGlob(glob: string): (eventType: string) => boolean {
  const matches = picomatch(withoutSlashes(glob), { dot: true, nocase: false });
  return (eventType) => matches(withoutSlashes(eventType));
}
