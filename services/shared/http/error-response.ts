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

export function sendError(req: Request, res: Response, statusCode: number, message: string, code?: string): void {
  const body = errorBody(statusCode, req.originalUrl, message, req.context, code);
  if (!res.headersSent) res.status(statusCode).json(body);
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
