import type { Request, Response } from 'express';
import type { RequestContext } from '../logging/request-context.js';

/** The one error shape every route answers with (public contract). */
export interface ErrorBody {
  statusCode: number;
  timestamp: string;
  path: string;
  message: string;
  correlationId: string | null;
  traceId: string | null;
  /** Machine-readable reason, e.g. INVALID_SIGNATURE. */
  code?: string;
}

/**
 * Answers `req` with an error in the contract's shape (once: nothing when an answer has started). An answer given
 * before the request's body was read in full closes the connection: Node would otherwise read the rest of the body,
 * whatever its size, to keep the connection for a next request.
 */
export function sendError(req: Request, res: Response, statusCode: number, message: string, code?: string): void {
  if (res.headersSent) return;
  if (!req.complete) res.setHeader('Connection', 'close');
  dropRepresentationHeaders(res, statusCode);
  res.status(statusCode).json(errorBody(statusCode, req.originalUrl, message, req.context, code));
}

/** The error body for a request to `url` (its query left out) with this context. */
export function errorBody(statusCode: number, url: string, message: string, context: RequestContext | undefined, code?: string): ErrorBody {
  return {
    statusCode,
    timestamp: new Date().toISOString(),
    path: url.split('?')[0] ?? url,
    message,
    correlationId: context?.correlationId ?? null,
    traceId: context?.traceId ?? null,
    ...(code ? { code } : {}),
  };
}

/**
 * A handler may fail after it began to describe what it would send: the console's static files set the file's
 * Content-Type, ETag, Last-Modified and a year-long `immutable` Cache-Control before refusing a Range past the end
 * (416). The error is none of that: it is JSON, and no cache may keep it as the file. `no-store` (the admin API's)
 * stays; Content-Range stays on a 416, where it says how long the file is (RFC 9110 15.5.17).
 */
function dropRepresentationHeaders(res: Response, statusCode: number): void {
  for (const name of ['ETag', 'Last-Modified', ...(statusCode === 416 ? [] : ['Content-Range'])]) res.removeHeader(name);
  if (res.getHeader('Cache-Control') !== 'no-store') res.removeHeader('Cache-Control');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
}
