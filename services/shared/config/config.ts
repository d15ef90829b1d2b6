import { getHeapStatistics } from 'node:v8';
import { configSchema, isHostName, MAX_TIMER_MS, type RawConfig } from './config-schema.js';

export type ServiceRole = RawConfig['SERVICE_ROLE'];

/** The validated configuration, grouped by the part of the service that reads it. */
export interface Config {
  role: ServiceRole;
  http: {
    port: number;
    host: string;
    maxBodyBytes: number;
    verificationFailureLimitPerMinute: number;
    /** DUPLICATE_WEBHOOK_LIMIT_PER_MINUTE: duplicates answered 200 per client address and minute; then 429. */
    duplicateLimitPerMinute: number;
    trustProxy?: string;
  };
  database: { url: string; poolSize: number };
  redis: { url?: string; host: string; port: number };
  queue: { name: string; prefix: string; attempts: number; backoffMs: number };
  providers: {
    stripeSecrets: string[];
    githubSecrets: string[];
    paypal?: { webhookId: string; certHosts: string[] };
    providersFile?: string;
    toleranceSeconds: number;
  };
  routesFile?: string;
  adminApiToken?: string;
  /** ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE: wrong admin tokens per client address and minute before 429. */
  adminAuthFailureLimitPerMinute: number;
  /** PRESTOP_TOKEN: the preStop hook's credential (unset: the hook is accepted only from loopback). */
  preStopToken?: string;
  /** The event console (served with the admin API by the ingress). */
  console: { traceUrlTemplate?: string };
  worker: {
    concurrency: number;
    lockDurationMs: number;
    stalledIntervalMs: number;
    deliveryTimeoutMs: number;
  };
  reconciler: { intervalMs: number; staleMs: number };
  retention: { completedDays: number; tombstoneDays: number; intervalMs: number };
  shutdownTimeoutMs: number;
  startupWaitMs: number;
  logLevel: RawConfig['LOG_LEVEL'];
  health: { maxHeapMb: number };
  kubernetes: { podName?: string; podNamespace?: string; podDeletionCostEnabled: boolean };
}

/** Thrown for an invalid environment; its message is one line naming the variable. */
export class ConfigError extends Error {
  readonly code = 'INVALID_CONFIG';
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`Invalid configuration: ${variable}: ${detail}`);
    this.name = 'ConfigError';
  }
}

const blankToUndefined = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === '' ? undefined : value;

export interface LoadConfigOptions {
  /**
   * The process only applies the migrations (`npm run migrate`, the chart's migration Job): it runs no role and opens
   * no pool of DATABASE_POOL_SIZE, so the floor a worker's pool needs ({@link MIN_WORKER_POOL_SIZE}) does not apply.
   * SERVICE_ROLE is unset there (so `all`), and the Job takes the chart's shared `config`, whose pool may be sized for
   * the ingress pods while `worker.config` sets the workers' own.
   */
  migrationsOnly?: boolean;
}

/** Validates `env` (normally `process.env`) and groups it. Throws {@link ConfigError} on the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): Config {
  // Empty strings mean "unset", as in most deployment tools that cannot omit a variable.
  const cleaned: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(env)) cleaned[key] = blankToUndefined(value);
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  const raw = parsed.data;
  const poolProblem = options.migrationsOnly ? undefined : poolSizeProblem(raw.SERVICE_ROLE, raw.DATABASE_POOL_SIZE);
  if (poolProblem) throw new ConfigError('DATABASE_POOL_SIZE', poolProblem);
  const retryProblem = retryScheduleProblem(raw.JOB_ATTEMPTS, raw.JOB_BACKOFF_MS);
  if (retryProblem) throw new ConfigError('JOB_ATTEMPTS', retryProblem);
  const redisUrl = blankToUndefined(raw.REDIS_URL);
  // Only without REDIS_URL, which wins over it: a REDIS_HOST left over next to a REDIS_URL was never read, and still
  // is not. Used, a URL or a host:port here (REDIS_URL's form) was looked up as a host name for ever: the start went
  // on (the ingress answers 202 without Redis) and no event was queued, with only a "redis connection error" to show.
  if (redisUrl === undefined && !isHostName(raw.REDIS_HOST.trim())) {
    throw new ConfigError(
      'REDIS_HOST',
      'must be a host name or an IP address, without scheme, port or path (the port goes in REDIS_PORT; a redis:// URL in REDIS_URL)',
    );
  }
  const paypalWebhookId = blankToUndefined(raw.PAYPAL_WEBHOOK_ID);
  return {
    role: raw.SERVICE_ROLE,
    http: {
      port: raw.PORT,
      host: raw.HOST,
      maxBodyBytes: raw.MAX_BODY_BYTES,
      verificationFailureLimitPerMinute: raw.VERIFICATION_FAILURE_LIMIT_PER_MINUTE,
      duplicateLimitPerMinute: raw.DUPLICATE_WEBHOOK_LIMIT_PER_MINUTE,
      trustProxy: blankToUndefined(raw.TRUST_PROXY),
    },
    database: { url: raw.DATABASE_URL, poolSize: raw.DATABASE_POOL_SIZE },
    redis: { url: redisUrl, host: raw.REDIS_HOST.trim(), port: raw.REDIS_PORT },
    queue: { name: raw.QUEUE_NAME, prefix: raw.QUEUE_PREFIX, attempts: raw.JOB_ATTEMPTS, backoffMs: raw.JOB_BACKOFF_MS },
    providers: {
      stripeSecrets: raw.STRIPE_WEBHOOK_SECRET,
      githubSecrets: raw.GITHUB_WEBHOOK_SECRET,
      paypal: paypalWebhookId ? { webhookId: paypalWebhookId, certHosts: raw.PAYPAL_CERT_HOSTS } : undefined,
      providersFile: blankToUndefined(raw.PROVIDERS_FILE),
      toleranceSeconds: raw.SIGNATURE_TOLERANCE_SECONDS,
    },
    routesFile: blankToUndefined(raw.ROUTES_FILE),
    adminApiToken: blankToUndefined(raw.ADMIN_API_TOKEN),
    adminAuthFailureLimitPerMinute: raw.ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE,
    preStopToken: blankToUndefined(raw.PRESTOP_TOKEN),
    console: { traceUrlTemplate: blankToUndefined(raw.TRACE_URL_TEMPLATE) },
    worker: {
      concurrency: raw.WORKER_CONCURRENCY,
      lockDurationMs: raw.WORKER_LOCK_DURATION_MS,
      stalledIntervalMs: raw.WORKER_STALLED_INTERVAL_MS,
      deliveryTimeoutMs: raw.DELIVERY_TIMEOUT_MS,
    },
    reconciler: { intervalMs: raw.RECONCILER_INTERVAL_MS, staleMs: raw.RECONCILER_STALE_MS },
    retention: { completedDays: raw.RETENTION_COMPLETED_DAYS, tombstoneDays: raw.RETENTION_TOMBSTONE_DAYS, intervalMs: raw.RETENTION_INTERVAL_MS },
    shutdownTimeoutMs: raw.SHUTDOWN_TIMEOUT_MS,
    startupWaitMs: raw.STARTUP_WAIT_MS,
    logLevel: raw.LOG_LEVEL,
    health: { maxHeapMb: raw.HEALTH_MAX_HEAP_MB ?? defaultMaxHeapMb() },
    kubernetes: {
      podName: blankToUndefined(raw.POD_NAME),
      podNamespace: blankToUndefined(raw.POD_NAMESPACE),
      podDeletionCostEnabled: raw.POD_DELETION_COST_ENABLED,
    },
  };
}

/** The smallest DATABASE_POOL_SIZE of a role that runs the worker (worker, all): see {@link poolSizeProblem}. */
export const MIN_WORKER_POOL_SIZE = 3;

/**
 * Why a pool this small cannot serve the role, or undefined. A worker's reconciler and retention passes each hold one
 * connection for their whole pass (their advisory lock's session), and may overlap; everything else the worker does
 * (claims, claim heartbeats, finishes, the readiness check) needs a connection meanwhile. With 1 or 2 those wait
 * behind the passes and fail after the pool's 3 s connection timeout: jobs are retried, readiness drops, and a run
 * whose heartbeats lapse while it delivers can be taken over by another claim and sent twice. The ingress holds no
 * connection across statements, so any size serves it.
 */
function poolSizeProblem(role: ServiceRole, poolSize: number): string | undefined {
  if (role === 'ingress' || poolSize >= MIN_WORKER_POOL_SIZE) return undefined;
  return (
    `must be at least ${MIN_WORKER_POOL_SIZE} for SERVICE_ROLE=${role} (got ${poolSize}): the reconciler's and the retention's passes ` +
    'each hold a connection for their whole pass, and claims, claim heartbeats and finishes need one meanwhile'
  );
}

/**
 * Why these attempts and this backoff make no retry schedule a failing event can come to the end of, or undefined.
 * The backoff doubles with each attempt, so the gap before the last retry is JOB_BACKOFF_MS × 2^(JOB_ATTEMPTS − 2):
 * JOB_ATTEMPTS=40 with the default 1 s is about 8,700 years. Each value was in bounds on its own, and such an event
 * stayed FAILED, neither retried nor DEAD_LETTER (where operators look), for good. The gap is held to the longest
 * duration a `*_MS` variable may give (about 24.8 days).
 */
function retryScheduleProblem(attempts: number, backoffMs: number): string | undefined {
  if (attempts < 2) return undefined;
  const longestGapMs = backoffMs * 2 ** (attempts - 2);
  if (longestGapMs <= MAX_TIMER_MS) return undefined;
  const mostAttempts = Math.floor(Math.log2(MAX_TIMER_MS / backoffMs)) + 2;
  const days = longestGapMs / 86_400_000;
  const gap = days < 365 ? `${Math.round(days)} days` : days < 365e6 ? `${Math.round(days / 365).toLocaleString('en-US')} years` : 'millions of years';
  return (
    `${attempts} attempts with JOB_BACKOFF_MS=${backoffMs} wait up to ${gap} before the last retry (the backoff doubles with each attempt: ` +
    `JOB_BACKOFF_MS × 2^(JOB_ATTEMPTS − 2)), so a failing event would stay FAILED instead of reaching DEAD_LETTER; ` +
    `at most ${mostAttempts} with this backoff (a gap of at most ${MAX_TIMER_MS} ms, about 24.8 days)`
  );
}

/**
 * 90% of the heap V8 will grow to (`--max-old-space-size` plus the young generation): a heap that close to its
 * limit is about to fail, whatever the limit is (256 MB old space under `npm start` and the image).
 */
function defaultMaxHeapMb(): number {
  return Math.floor((getHeapStatistics().heap_size_limit / 1_048_576) * 0.9);
}
