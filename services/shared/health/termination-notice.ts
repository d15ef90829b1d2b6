import { Router } from 'express';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../logging/logger.js';
import { sendError } from '../http/error-response.js';
import { RateLimitedLog } from '../logging/rate-limited-log.js';
import { HEALTH_PRESTOP_PATH } from './health-paths.js';
import { preStopCallerCheck } from './prestop-caller.js';

/**
 * The pod's coming termination, announced by the kubelet's preStop hook before it sends SIGTERM.
 *
 * Endpoints drop a pod only once it is terminating, and clients on keep-alive connections (an ingress controller's
 * upstream pool, kube-proxy's conntrack entries) go on sending over the connections they have. If those connections
 * are still open at SIGTERM, the drain closes them while a client may be writing its next request: that request
 * is reset (ECONNRESET). Announced, the service fails readiness at once and answers every further response with
 * `Connection: close`, so each client moves to a new connection — which goes to a pod still in the endpoints —
 * before SIGTERM, and the drain finds no idle keep-alive connection to cut.
 *
 * The notice lapses (readiness recovers) when no SIGTERM follows: a call that was not the kubelet's costs one pod's
 * readiness for a bounded time, never the pod.
 */
export class TerminationNotice {
  private activeUntil = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Announces termination for the next `forMs` milliseconds (a later call extends it, never shortens it). */
  announce(forMs: number): void {
    this.activeUntil = Math.max(this.activeUntil, this.now() + Math.max(0, forMs));
  }

  isActive(): boolean {
    return this.now() < this.activeUntil;
  }
}

export interface PreStopRouterOptions {
  notice: TerminationNotice;
  /** True once SIGTERM's drain began: a held preStop answer is released at once so it does not hold the drain. */
  isShuttingDown: () => boolean;
  logger: Logger;
  /** PRESTOP_TOKEN: the hook then needs it in X-Prestop-Token; unset, it is accepted only from loopback. */
  token?: string;
  /** Upper bound of `sleepSeconds` (the kubelet bounds the hook by the grace period anyway). */
  maxSleepSeconds?: number;
  /** How long the notice outlives the hold when no SIGTERM follows. */
  lapseAfterMs?: number;
}

export const PRESTOP_MAX_SLEEP_SECONDS = 120;
export const PRESTOP_LAPSE_AFTER_MS = 30_000;

/**
 * `GET /health/prestop?sleepSeconds=N`, the target of the chart's `lifecycle.preStop.httpGet` for the ingress role.
 * It announces the termination ({@link TerminationNotice}), then holds its answer for N seconds: the kubelet's
 * httpGet handler waits for the answer (bounded by the grace period) and sends SIGTERM after it, so the hold is
 * the window in which endpoints and load balancers let go of the pod. A caller that is not the kubelet (see
 * {@link preStopCallerCheck}: the PRESTOP_TOKEN header, else loopback only) is refused with 403 and announces nothing.
 */
export function preStopRouter(options: PreStopRouterOptions): Router {
  const router = Router();
  const maxSleepSeconds = options.maxSleepSeconds ?? PRESTOP_MAX_SLEEP_SECONDS;
  const lapseAfterMs = options.lapseAfterMs ?? PRESTOP_LAPSE_AFTER_MS;
  const refusalOf = preStopCallerCheck(options.token);
  // Anyone who reaches the port picks how often this happens: one line, then a count a minute.
  const refusals = new RateLimitedLog((fields) => options.logger.warn('preStop hook refused: nothing announced', fields));
  let lapseTimer: NodeJS.Timeout | undefined;

  router.get(HEALTH_PRESTOP_PATH, async (req, res) => {
    const refused = refusalOf(req);
    if (refused) {
      refusals.note({ reason: refused, remoteAddress: req.socket.remoteAddress });
      sendError(req, res, 403, refused, 'FORBIDDEN');
      return;
    }
    const raw = req.query.sleepSeconds;
    const sleepSeconds = raw === undefined ? 0 : typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(sleepSeconds) || sleepSeconds > maxSleepSeconds) {
      sendError(req, res, 400, `sleepSeconds must be an integer from 0 to ${maxSleepSeconds}`, 'BAD_REQUEST');
      return;
    }
    const holdMs = sleepSeconds * 1000;
    options.notice.announce(holdMs + lapseAfterMs);
    // The response to this request closes its connection too (the notice is active before it is answered).
    res.setHeader('Connection', 'close');
    options.logger.info('preStop: termination announced; readiness is 503 and every response closes its connection', {
      sleepSeconds,
    });
    clearTimeout(lapseTimer);
    lapseTimer = setTimeout(() => {
      if (!options.isShuttingDown() && !options.notice.isActive()) {
        options.logger.warn('preStop notice lapsed without SIGTERM: ready again', { sleepSeconds, lapseAfterMs });
      }
    }, holdMs + lapseAfterMs + 10);
    lapseTimer.unref();

    let gone = false;
    res.once('close', () => (gone = true));
    const started = Date.now();
    while (Date.now() - started < holdMs && !options.isShuttingDown() && !gone) {
      await delay(Math.max(1, Math.min(50, holdMs - (Date.now() - started))));
    }
    if (!gone) res.status(200).json({ status: 'terminating', sleptMs: Date.now() - started });
  });

  return router;
}
