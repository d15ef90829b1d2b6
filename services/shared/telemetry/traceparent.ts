/**
 * The one reading of a W3C Trace Context `traceparent` header (https://www.w3.org/TR/trace-context/#traceparent-header),
 * for the request's trace id, the traceparent stored with an event and the trace id of the worker's lines alike:
 * `<version>-<trace id>-<parent id>-<flags>`, lower-case hex. All-zero trace or parent ids are invalid, and so is
 * version ff: such a header is ignored (a new trace is started), never taken as the trace id 000…0 every such caller
 * would share. A version after 00 may append fields, which are ignored (as OpenTelemetry's propagator does).
 */
const TRACEPARENT = /^(?!ff)([\da-f]{2})-(?!0{32})([\da-f]{32})-(?!0{16})([\da-f]{16})-([\da-f]{2})(-.*)?$/;

/** A valid trace id: 32 lower-case hex digits, not all zeros. */
const TRACE_ID = /^(?!0{32})[\da-f]{32}$/;

export interface Traceparent {
  version: string;
  traceId: string;
  parentId: string;
  flags: string;
}

/** The fields of a valid `traceparent`; undefined when there is none or it is invalid. */
export function parseTraceparent(header: unknown): Traceparent | undefined {
  if (typeof header !== 'string') return undefined;
  const match = TRACEPARENT.exec(header);
  // Version 00 has exactly four fields: anything after them makes it invalid.
  if (!match || (match[1] === '00' && match[5] !== undefined)) return undefined;
  return { version: match[1]!, traceId: match[2]!, parentId: match[3]!, flags: match[4]! };
}

export function isValidTraceId(traceId: string | undefined): traceId is string {
  return traceId !== undefined && TRACE_ID.test(traceId);
}
