import type { NextFunction, Request, Response } from 'express';
import { httpRequestDuration } from '../metrics/metrics.js';
import { metricMethod } from './metric-method.js';
import { requestStarted } from './request-context-middleware.js';

/**
 * Records `http_request_duration_seconds` by route pattern (never the raw path: that would explode cardinality) and
 * method, a method the service does not use as `OTHER` (see metricMethod).
 */
export function httpMetricsMiddleware(req: Request, res: Response, next: NextFunction): void {
  const start = requestStarted(req);
  res.once('finish', () => {
    const route = req.route?.path !== undefined ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    httpRequestDuration.observe({ method: metricMethod(req.method), route, status_code: String(res.statusCode) }, seconds);
  });
  next();
}
