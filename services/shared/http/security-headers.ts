import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

/** The security headers every answer carries (helmet's defaults), as Express middleware. */
export const securityHeaders = helmet();

/**
 * The same headers as name → value, taken once from the middleware itself: for answers written without Express
 * (the webhook route's direct path), which then send exactly what the middleware would have set.
 */
export function securityHeaderValues(): Record<string, string> {
  const values: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: unknown) => (values[name] = String(value)),
    removeHeader: (name: string) => delete values[name],
    getHeader: (name: string) => values[name],
  } as unknown as ServerResponse;
  let done = false;
  securityHeaders({ headers: {} } as IncomingMessage, response, () => (done = true));
  // helmet's middleware is synchronous; a future version that is not must not silently send fewer headers.
  if (!done) throw new Error('helmet did not finish synchronously; the direct webhook path cannot copy its headers');
  return values;
}
