/** Methods a metric label may name; Node's parser takes 35 (PROPFIND, MKCALENDAR, UNSUBSCRIBE…), any client may send them. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

/**
 * The `method` label of a request's metrics: its method when it is one the service or its clients use, else `OTHER`.
 * Every label value taken from a request comes from a small fixed set: each of the parser's 35 methods sent to an
 * unknown path made a `http_request_duration_seconds` series of its own (14 lines each, per status code).
 */
export function metricMethod(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : 'OTHER';
}
