import { isTokenLikePathSegment } from '../shared/destinations/token-like-path-segment.js';
import { compileEventTypeGlob } from '../shared/routing/event-type-glob.js';
import type { DestinationInfo, RoutingView } from './admin-views.js';

/**
 * ROUTES_FILE as the admin API reads it: only what it shows (names, types, where destinations are, which routes
 * send where). Declared here rather than imported, so the admin API depends on no role's code; the loaded file
 * passes as it is.
 */
export interface RoutingConfig {
  destinations: Record<string, { type?: string; url?: string }>;
  routes: { provider: string; events?: string[]; to: string[]; filter?: unknown; transform?: unknown }[];
}

/**
 * Where a destination is, for operators: scheme, host and path. Its credentials are left out: the user and password,
 * the query (credential-like values such as `token` or `sig`), and a token-like path segment (Slack's, Discord's),
 * shown as [REDACTED] as the logs show it.
 */
const targetOf = (url: string | undefined): string | null => {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    const path = parsed.pathname
      .split('/')
      .map((segment) => (isTokenLikePathSegment(segment) ? '[REDACTED]' : segment))
      .join('/');
    return `${parsed.protocol}//${parsed.host}${path === '/' ? '' : path}`;
  } catch {
    return null;
  }
};

/** Every configured destination, in configuration order. */
export function destinationInfos(config: RoutingConfig | undefined): DestinationInfo[] {
  return Object.entries(config?.destinations ?? {}).map(([name, destination]) => ({
    name,
    type: destination.type ?? 'http',
    target: targetOf(destination.url),
  }));
}

/** Which routes match a provider and event type (the worker's rule: provider or `*`, any glob or none). */
export function describeRouting(config: RoutingConfig | undefined, provider: string, eventType: string): RoutingView {
  if (!config) return { routes: [], destinations: [] };
  const routes = config.routes.flatMap((route, index) => {
    if (route.provider !== provider && route.provider !== '*') return [];
    if (route.events && !route.events.some((glob) => compileEventTypeGlob(glob)(eventType))) return [];
    return [{ index, provider: route.provider, events: route.events ?? null, to: route.to, hasFilter: route.filter !== undefined, hasTransform: route.transform !== undefined }];
  });
  const names = new Set(routes.flatMap((route) => route.to));
  return { routes, destinations: destinationInfos(config).filter((destination) => names.has(destination.name)) };
}
