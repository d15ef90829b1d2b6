import type { NextFunction, Request, Response } from 'express';
import { METRICS_PATH } from '../health/health-paths.js';
import type { Logger } from '../logging/logger.js';
import { requestStarted } from './request-context-middleware.js';

/** What one access line says about a request. */
export interface AccessLine {
  method: string;
  path: string;
  statusCode: number;
  durationMs: number;
  outcome?: string;
  eventId?: string;
}

/** Writes the access line of one answered request at `level`. */
export function logAccess(logger: Logger, level: string, line: AccessLine): void {
  const { eventId, ...rest } = line;
  logger.log(level, 'request', { ...rest, ...(eventId ? { eventId } : {}) });
}

/** One line per request (probes and scrapes at debug level, so they do not drown the rest). */
export function accessLogMiddleware(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const quiet = req.path.startsWith('/health') || req.path === METRICS_PATH;
    const level = quiet ? 'debug' : 'info';
    // winston formats every line (timestamp, context, JSON) before its transport drops it by level, so a line
    // that would be dropped is not built at all: at LOG_LEVEL=warn this saves a JSON line's work per request.
    if (!logger.isLevelEnabled(level)) return next();
    const start = requestStarted(req);
    // Read now: a router mounted on a path (the console's assets) strips it from req.path by the time the answer ends.
    const path = req.path;
    res.once('finish', () => {
      logAccess(logger, level, {
        method: req.method,
        path,
        statusCode: res.statusCode,
        durationMs: Math.round(Number(process.hrtime.bigint() - start) / 1e6),
        outcome: res.locals.outcome,
        eventId: req.context?.eventId,
      });
    });
    next();
  };
}
