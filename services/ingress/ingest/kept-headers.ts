import type { IncomingHttpHeaders } from 'node:http';
import { KEPT_REQUEST_HEADERS } from '../../shared/routing/kept-headers.js';

/** The request headers stored with an event for operators and route filters (see KEPT_REQUEST_HEADERS), plus `extra`. */
export function keptHeaders(headers: IncomingHttpHeaders, extra: readonly string[] = []): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of [...KEPT_REQUEST_HEADERS, ...extra]) {
    const value = headers[name];
    if (typeof value === 'string') kept[name] = value.slice(0, 512);
  }
  return kept;
}
