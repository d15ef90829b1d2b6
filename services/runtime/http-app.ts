import express, { type Express, type Router } from 'express';
import { parseTrustProxy, trustProxyWarning } from '../shared/config/trust-proxy.js';
import { healthRouter, type HealthRouterOptions } from '../shared/health/health-router.js';
import { METRICS_PATH } from '../shared/health/health-paths.js';
import { preStopRouter, TerminationNotice } from '../shared/health/termination-notice.js';
import { accessLogMiddleware } from '../shared/http/access-log.js';
import { errorMiddleware, notFoundMiddleware } from '../shared/http/error-middleware.js';
import { httpMetricsMiddleware } from '../shared/http/http-metrics-middleware.js';
import { requestContextMiddleware } from '../shared/http/request-context-middleware.js';
import { securityHeaders } from '../shared/http/security-headers.js';
import type { Logger } from '../shared/logging/logger.js';
import { registry } from '../shared/metrics/metrics.js';

export interface HttpAppOptions {
  health: HealthRouterOptions;
  /** Role-specific routers (webhooks and admin for the ingress), mounted after health and metrics. */
  routers: Router[];
  /** Express's `trust proxy` setting, so the client address behind a load balancer is the real one. */
  trustProxy?: string;
  logger: Logger;
  /** The preStop hook's announcement (GET /health/prestop); one is made when not given. */
  terminationNotice?: TerminationNotice;
  /** PRESTOP_TOKEN: the credential the preStop hook must carry (unset: accepted only from loopback). */
  preStopToken?: string;
}

/**
 * The HTTP surface, in the order a request meets it: connection handling once termination is announced →
 * security headers → correlation and trace ids → metrics timing → access log → health, preStop and metrics →
 * role routes → 404 → errors in the contract's shape.
 */
export function createHttpApp(options: HttpAppOptions): Express {
  const notice = options.terminationNotice ?? new TerminationNotice();
  const terminating = () => options.health.isShuttingDown() || notice.isActive();
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (options.trustProxy) {
    app.set('trust proxy', parseTrustProxy(options.trustProxy));
    const warning = trustProxyWarning(options.trustProxy);
    if (warning) options.logger.warn(warning);
  }
  // From the preStop announcement on (and while draining), no response keeps its connection alive: keep-alive
  // clients move to a new connection, which goes to a pod still in the endpoints, instead of writing into a
  // connection the drain is about to close (ECONNRESET).
  app.use((_req, res, next) => {
    if (terminating()) res.setHeader('Connection', 'close');
    next();
  });
  app.use(securityHeaders);
  app.use(requestContextMiddleware);
  app.use(httpMetricsMiddleware);
  app.use(accessLogMiddleware(options.logger));
  // Readiness fails from the preStop announcement on, not only from SIGTERM.
  app.use(healthRouter({ ...options.health, isShuttingDown: terminating }));
  app.use(preStopRouter({ notice, isShuttingDown: options.health.isShuttingDown, logger: options.logger, token: options.preStopToken }));
  app.get(METRICS_PATH, async (_req, res) => {
    res.setHeader('Content-Type', registry.contentType);
    res.send(await renderMetrics());
  });
  for (const router of options.routers) app.use(router);
  app.use(notFoundMiddleware);
  app.use(errorMiddleware(options.logger));
  return app;
}

let rendering: Promise<string> | undefined;
/**
 * The registry as Prometheus text; scrapes that arrive while one is being rendered share it (a rendering collects
 * every gauge, some from PostgreSQL or Redis, and makes a ~30 KB string: a burst of scrapes must not make one each).
 */
export function renderMetrics(): Promise<string> {
  return (rendering ??= registry.metrics().finally(() => (rendering = undefined)));
}
