import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { trace } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import { runWithContext, type RequestContext } from '../logging/request-context.js';
import { isValidTraceId, parseTraceparent } from '../telemetry/traceparent.js';

export const CORRELATION_HEADER = 'x-correlation-id';

/**
 * When a request began (process.hrtime.bigint()), set by the webhooks' direct path on a request it hands to Express
 * after reading its body: the duration histogram and the access line then time it from its first byte, not from the
 * hand-over. Express requests without it are timed from when their middleware chain starts (the same moment).
 */
export const REQUEST_STARTED = Symbol('request started');

/** When `req` began: as the direct path recorded it, else now. */
export function requestStarted(req: object): bigint {
  return (req as { [REQUEST_STARTED]?: bigint })[REQUEST_STARTED] ?? process.hrtime.bigint();
}
const SAFE_CORRELATION_ID = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

declare module 'express-serve-static-core' {
  interface Request {
    /** Correlation id, trace id and (later) event id of this request. */
    context: RequestContext;
  }
}

/**
 * Gives every request a correlation id (the caller's `X-Correlation-Id` when it is a sane token, else a new
 * uuid), echoes it on the response, and runs the rest of the chain inside that context so every log line and
 * error body carries it. The trace id is the active span's, or the caller's `traceparent`'s when tracing is off.
 */
export function requestContextMiddleware(req: Request, res: Response, next: NextFunction): void {
  // A request the webhooks' direct path handed over keeps the context it was received under (one correlation id).
  req.context ??= requestContextFor(req.headers);
  res.setHeader('X-Correlation-Id', req.context.correlationId!);
  runWithContext(req.context, next);
}

/** The context of a request with these headers: its correlation id and trace id (see requestContextMiddleware). */
export function requestContextFor(headers: IncomingHttpHeaders): RequestContext {
  const supplied = headers[CORRELATION_HEADER];
  const correlationId = typeof supplied === 'string' && SAFE_CORRELATION_ID.test(supplied) ? supplied : randomUUID();
  const spanContext = trace.getActiveSpan()?.spanContext();
  let traceId = spanContext?.traceId;
  let spanId = spanContext?.spanId;
  if (!isValidTraceId(traceId)) {
    // An invalid traceparent (all-zero ids included) is ignored, as W3C says: the request starts a trace of its own.
    // A uuid's hex digits make a valid trace id, and randomUUID is much cheaper than randomBytes per request.
    traceId = parseTraceparent(headers.traceparent)?.traceId ?? randomUUID().replaceAll('-', '');
    spanId = undefined;
  }
  return { correlationId, traceId, spanId };
}
