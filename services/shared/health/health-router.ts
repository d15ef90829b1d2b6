import { Router } from 'express';
import { healthFailureCategory, type CategorisedFailure } from './health-failure-category.js';
import { HEALTH_LIVE_PATH, HEALTH_PATH, HEALTH_READY_PATH } from './health-paths.js';

/** A dependency check: resolves when the dependency answers, rejects (or times out) otherwise. */
export type HealthCheck = () => Promise<void>;

export interface HealthRouterOptions {
  checks: Record<string, HealthCheck>;
  /** Checks that must pass for readiness. The ingress leaves Redis out: it keeps accepting (202) without it. */
  readinessChecks: string[];
  maxHeapMb: number;
  /** True once shutdown began: readiness turns 503 at once so endpoints drop the pod before it drains. */
  isShuttingDown: () => boolean;
  timeoutMs?: number;
  /** Told the outcome of every dependency check that ran (readiness, /health): `webhook_dependency_up`. */
  onCheck?: (name: string, up: boolean) => void;
  /** Told each failed check's full error, which the answer leaves out (the log: dependency-check-failure-log.ts). */
  onFailure?: (name: string, error: unknown) => void;
}

/** How long a dependency check may take before it counts as down. */
export const HEALTH_CHECK_TIMEOUT_MS = 2000;

type Indicator = Record<string, unknown> & { status: 'up' | 'down' };

/** A check that did not answer within the health checks' timeout. */
export class HealthCheckTimeoutError extends Error implements CategorisedFailure {
  readonly healthCategory = 'timeout';
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'HealthCheckTimeoutError';
  }
}

/**
 * Runs one check, bounded by `timeoutMs`: `up`, or `down` with the failure's category as its `message` (never the
 * error's text, which names hosts, users and databases: see health-failure-category.ts). The error itself goes to
 * `onFailure`.
 */
export async function runCheck(check: HealthCheck, timeoutMs: number, onFailure?: (error: unknown) => void): Promise<Indicator> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new HealthCheckTimeoutError(timeoutMs)), timeoutMs);
      }),
    ]);
    return { status: 'up' };
  } catch (error) {
    onFailure?.(error);
    return { status: 'down', message: healthFailureCategory(error) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `/health` (all indicators, Terminus-style body), `/health/live` (the event loop answers) and `/health/ready`
 * (required dependencies up and not shutting down). A check is run for a request unless one is running already,
 * whose result it then shares; nothing is kept once a check has ended, so the next request runs a new one.
 */
export function healthRouter(options: HealthRouterOptions): Router {
  const router = Router();
  const timeoutMs = options.timeoutMs ?? HEALTH_CHECK_TIMEOUT_MS;

  // Each check running now, by name: requests that arrive meanwhile share its result. These endpoints answer anyone
  // who reaches the port, and each check is a PostgreSQL query on the pool the webhooks are stored with, or a Redis
  // write: run per request, a flood of GET /health queued its queries ahead of the webhooks' inserts (which wait 3 s
  // for a pool connection, then fail) and of the kubelet's own probe. Shared, a flood costs one check at a time.
  const running = new Map<string, Promise<Indicator>>();
  const check = (name: string): Promise<Indicator> => {
    let run = running.get(name);
    if (run === undefined) {
      run = runCheck(options.checks[name]!, timeoutMs, (error) => options.onFailure?.(name, error))
        .then((indicator) => {
          options.onCheck?.(name, indicator.status === 'up');
          return indicator;
        })
        .finally(() => running.delete(name));
      running.set(name, run);
    }
    return run;
  };

  const evaluate = async (names: string[]) => {
    const details: Record<string, Indicator> = {};
    await Promise.all(
      names.map(async (name) => {
        details[name] = await check(name);
      }),
    );
    return details;
  };

  const memoryIndicator = (): Indicator => {
    const usage = process.memoryUsage();
    const heapUsedMb = Math.round(usage.heapUsed / 1_048_576);
    return {
      status: heapUsedMb <= options.maxHeapMb ? 'up' : 'down',
      heapUsedMb,
      rssMb: Math.round(usage.rss / 1_048_576),
      maxHeapMb: options.maxHeapMb,
    };
  };

  const answer = (details: Record<string, Indicator>) => {
    const info: Record<string, Indicator> = {};
    const error: Record<string, Indicator> = {};
    for (const [name, indicator] of Object.entries(details)) (indicator.status === 'up' ? info : error)[name] = indicator;
    const ok = Object.keys(error).length === 0;
    return { code: ok ? 200 : 503, body: { status: ok ? 'ok' : 'error', info, error, details } };
  };

  router.get(HEALTH_PATH, async (_req, res) => {
    const details = await evaluate(Object.keys(options.checks));
    details.memory = memoryIndicator();
    const { code, body } = answer(details);
    res.status(code).json(body);
  });

  router.get(HEALTH_LIVE_PATH, (_req, res) => {
    // Answering at all proves the event loop is not wedged; dependencies are readiness's business.
    res.status(200).json({ status: 'ok', info: {}, error: {}, details: {} });
  });

  router.get(HEALTH_READY_PATH, async (_req, res) => {
    // Shutting down (preStop, SIGTERM): 503 without checking anything, so the dependencies' state stays as it was.
    if (options.isShuttingDown()) {
      const shutdown: Indicator = { status: 'down', message: 'shutting down' };
      res.status(503).json({ status: 'error', info: {}, error: { shutdown }, details: { shutdown } });
      return;
    }
    const { code, body } = answer(await evaluate(options.readinessChecks));
    res.status(code).json(body);
  });

  return router;
}
