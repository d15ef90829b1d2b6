import type { Request } from 'express';

/** What this reads of Express 5's router (the `router` package): its layers, each a route or a mounted router. */
interface RouterLayer {
  /** A route's layer: the methods it answers, lower-case (`_all` for `router.all`). */
  route?: { methods: Record<string, boolean | undefined> };
  /** A mounted router's layer (`app.use(router)`): its own layers. */
  handle?: { stack?: RouterLayer[] };
  /** Whether the layer's path matches; on a match, `path` is the part it matched (a mount's prefix). */
  match(path: string): boolean;
  path?: string;
}

/**
 * The methods some route serves at `req.path`, upper-case (HEAD with GET, as Express answers HEAD with the GET
 * route), found by walking the app's routers as Express does for an OPTIONS request. Empty when no route serves the
 * path by any method: that request is a 404, while one for a path that exists by another method is a 405 with
 * `Allow` (RFC 9110 §15.5.6), so a client that sent `GET /webhooks/stripe` learns the path is right and the method
 * is not. Only routes count, not middleware mounted on a path (the console's static assets answer GET and HEAD and
 * fall through for the rest: a 404).
 *
 * Matching sets the layer's `params` and `path`, which Express's router also does per request, synchronously before
 * it calls a layer's handler; this runs in the last handler, once the router has passed every layer by.
 */
export function allowedMethods(req: Request): string[] {
  const router = (req.app as unknown as { router?: { stack?: RouterLayer[] } } | undefined)?.router;
  const methods = new Set<string>();
  const visit = (stack: RouterLayer[], path: string): void => {
    for (const layer of stack) {
      let matched: boolean;
      try {
        matched = layer.match(path);
      } catch {
        continue; // a parameter that does not decode (`%ZZ`): that path is the 400 the route would give, not a 405
      }
      if (!matched) continue;
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') methods.add(method.toUpperCase());
      } else if (layer.handle?.stack) {
        visit(layer.handle.stack, path.slice((layer.path ?? '').length) || '/');
      }
    }
  };
  if (router?.stack) visit(router.stack, req.path);
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}
