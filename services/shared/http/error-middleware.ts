import { STATUS_CODES } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { isDatabaseUnavailable, isDataException } from '../database/database-errors.js';
import { AppError, DependencyUnavailableError } from '../errors/app-error.js';
import type { Logger } from '../logging/logger.js';
import { allowedMethods } from './allowed-methods.js';
import { sendError } from './error-response.js';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from './unavailable-retry-after.js';

/** body-parser's error types, mapped to what the client did wrong. */
const bodyParserErrors: Record<string, { status: number; message: string; code: string }> = {
  'entity.too.large': { status: 413, message: 'Request body is too large', code: 'PAYLOAD_TOO_LARGE' },
  'encoding.unsupported': { status: 415, message: 'Unsupported content encoding', code: 'UNSUPPORTED_MEDIA_TYPE' },
  'charset.unsupported': { status: 415, message: 'Unsupported charset', code: 'UNSUPPORTED_MEDIA_TYPE' },
  'entity.parse.failed': { status: 400, message: 'Malformed request body', code: 'MALFORMED_BODY' },
  'entity.verify.failed': { status: 400, message: 'Malformed request body', code: 'MALFORMED_BODY' },
  'request.aborted': { status: 400, message: 'Request aborted', code: 'REQUEST_ABORTED' },
  'request.size.invalid': { status: 400, message: 'Request size did not match Content-Length', code: 'BAD_REQUEST' },
  'stream.encoding.set': { status: 500, message: 'Internal server error', code: 'INTERNAL' },
};

/** The last middleware: turns anything thrown into the contract's error shape, without leaking internals. */
export function errorMiddleware(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    if (!(error instanceof AppError) && isDatabaseUnavailable(error)) {
      error = new DependencyUnavailableError('database', { cause: error });
    }
    if (error instanceof AppError) {
      if (error.statusCode >= 500 && !(error instanceof DependencyUnavailableError && error.logged)) {
        const dependency = error instanceof DependencyUnavailableError ? error.dependency : undefined;
        logger.warn('request failed', { path: req.path, code: error.code, dependency, cause: error.cause });
      } else if (isDataException(error.cause)) {
        // A 400 for a value PostgreSQL refused (see withFilterValues in admin-router.ts): the checks before the
        // statement missed it, which is worth a line; and were it a bug of ours after all, the line shows it.
        const cause = error.cause as { code?: unknown; driverError?: { code?: unknown }; message?: unknown };
        logger.warn('request refused by PostgreSQL as bad input', { path: req.path, sqlState: cause.code ?? cause.driverError?.code, message: cause.message });
      }
      // A dependency unavailable: come back in a few seconds, on every route alike (webhooks, admin API, console).
      if (error instanceof DependencyUnavailableError && !res.headersSent) res.setHeader('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      sendError(req, res, error.statusCode, error.message, error.code);
      return;
    }
    const type = (error as { type?: unknown } | null)?.type;
    const known = typeof type === 'string' ? bodyParserErrors[type] : undefined;
    if (known) {
      sendError(req, res, known.status, known.message, known.code);
      return;
    }
    const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // Express's router could not decode a path parameter (`/admin/events/%ZZ`): say so, not just "Bad request".
      if (error instanceof URIError) {
        sendError(req, res, 400, 'The URL path has a malformed percent-encoding (a % not followed by two hex digits, or bytes that are not UTF-8)', 'BAD_REQUEST');
        return;
      }
      // Another library's 4xx (serve-static's 416 for a Range past the end): its own status's reason, not "Bad request".
      const reason = status === 400 ? undefined : STATUS_CODES[status];
      if (!reason) return sendError(req, res, status, 'Bad request', 'BAD_REQUEST');
      sendError(req, res, status, reason, reason.toUpperCase().replace(/[^A-Z0-9]+/g, '_'));
      return;
    }
    logger.error('unhandled error', { path: req.path, error });
    sendError(req, res, 500, 'Internal server error', 'INTERNAL');
  };
}

/**
 * Answers what no route served, in the contract's shape: a 405 with `Allow` when a route serves the path by other
 * methods (`GET /webhooks/stripe`: the path is right, the method is not), else a 404.
 */
export function notFoundMiddleware(req: Request, res: Response): void {
  const allowed = allowedMethods(req);
  if (allowed.length > 0 && !allowed.includes(req.method)) {
    res.setHeader('Allow', allowed.join(', '));
    sendError(req, res, 405, `${req.method} is not allowed on ${req.path}; it takes ${allowed.join(', ')}`, 'METHOD_NOT_ALLOWED');
    return;
  }
  sendError(req, res, 404, `Cannot ${req.method} ${req.path}`, 'NOT_FOUND');
}
