import type { Request, Response } from 'express';

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
  const body: ErrorBody = {
    statusCode,
    timestamp: new Date().toISOString(),
    path: req.originalUrl.split('?')[0] ?? req.path,
    message,
    correlationId: req.context?.correlationId ?? null,
    traceId: req.context?.traceId ?? null,
    ...(code ? { code } : {}),
  };
  if (!res.headersSent) res.status(statusCode).json(body);
}
