import type { IncomingHttpHeaders } from 'node:http';

/** Request headers stored with an event for operators; signatures, secrets and cookies never are. */
const KEPT_HEADERS = [
  'user-agent',
  'content-type',
  'x-github-event',
  'x-github-delivery',
  'x-github-hook-id',
  'paypal-transmission-id',
  'paypal-transmission-time',
  'paypal-auth-algo',
  'webhook-id',
  'webhook-timestamp',
  'x-request-id',
] as const;

export function keptHeaders(headers: IncomingHttpHeaders, extra: readonly string[] = []): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of [...KEPT_HEADERS, ...extra]) {
    const value = headers[name];
    if (typeof value === 'string') kept[name] = value.slice(0, 512);
  }
  return kept;
}
