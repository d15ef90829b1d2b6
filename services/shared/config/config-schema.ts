import { isIP } from 'node:net';
import { z } from 'zod';
import { parseCertHosts } from './paypal-cert-hosts.js';
import { trustProxyProblem } from './trust-proxy.js';

/** Splits a comma-separated list, dropping blanks: `"a, b,,c"` → `["a","b","c"]`. */
const commaItems = (value: string | undefined): string[] =>
  (value ?? '').split(',').map((item) => item.trim()).filter((item) => item.length > 0);

/**
 * A provider's secrets, comma-separated for rotation; empty entries between commas are ignored (`a,,b` is `a` and
 * `b`: each secret still verifies). An empty variable turns the provider off, but a value holding no secret at all
 * (`,,,`) is refused: it turned the provider off as well, without a word, and its webhooks were answered 404.
 */
const secretList = z
  .string()
  .optional()
  .refine(
    // Unset (or empty, which loadConfig reads as unset) is the provider turned off.
    (value) => value === undefined || commaItems(value).length > 0,
    'holds no secret, only commas and blanks: give one or more secrets, comma-separated, or leave it empty to turn the provider off',
  )
  .transform(commaItems);

/**
 * One of `values`, with surrounding blanks ignored as for integers (`" worker"` is `worker`): a value copied with a
 * space around it was refused while `" 8080 "` was taken.
 */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
  z.string().trim().pipe(z.enum(values)).default(fallback);

/**
 * A whole number written in decimal digits (`1048576`): not `1e3`, `0x10`, `1.0` or `-1`, which `Number()` would
 * take, so what is written is what is used. Surrounding blanks are ignored.
 */
const decimalDigits = z
  .string()
  .trim()
  .regex(/^\d+$/, 'must be a whole number in decimal digits (no sign, exponent, decimal point or hex)')
  .transform(Number);

const integer = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, maxMessage?: string) =>
  decimalDigits.pipe(z.number().min(min).max(max, maxMessage)).default(fallback);

/**
 * The longest delay setTimeout honours (about 24.8 days). A larger one is replaced by 1 ms with only a
 * TimeoutOverflowWarning, so "wait very long" would silently mean "do not wait at all".
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** A duration in milliseconds: a whole number from `min` up to {@link MAX_TIMER_MS}, since it ends up in a timer. */
const milliseconds = (fallback: number, min: number) =>
  integer(fallback, min, MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} (2^31-1 ms, about 24.8 days: the longest delay Node's timers honour; a larger one would fire after 1 ms)`);

const booleanFlag = (fallback: boolean) =>
  oneOf(['true', 'false', '1', '0', 'yes', 'no'], fallback ? 'true' : 'false').transform((value) => value === 'true' || value === '1' || value === 'yes');

/**
 * `redis[s]://[user:password@]host[:port][/db]`, as the connection code reads it: checked here so a typo stops the
 * start naming REDIS_URL, not with a bare "Invalid URL" from deep inside the first connection.
 */
function isRedisUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return false;
  if (url.hostname === '') return false;
  if (url.port !== '' && (Number(url.port) < 1 || Number(url.port) > 65535)) return false;
  return url.pathname === '' || url.pathname === '/' || /^\/\d+$/.test(url.pathname);
}

/**
 * A host as `server.listen` (HOST) and a Redis connection (REDIS_HOST) take it: an IP address (`0.0.0.0`, `::`,
 * `127.0.0.1`) or a host name made of dot-separated labels (letters, digits, hyphens inside, and the underscores some
 * resolvers allow), at most 253 characters, whose last label is not all digits (so `10.0.0.256` is refused as a
 * mistyped address). No scheme, port or path. Checked by its syntax only: nothing is resolved here.
 */
export function isHostName(value: string): boolean {
  if (isIP(value) !== 0) return true;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  return labels.every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label)) && !/^\d+$/.test(labels.at(-1)!);
}

/**
 * `postgres[ql]://[user[:password]@][host][:port][/database][?…]`, parsed as the migrations will parse it (WHATWG URL),
 * so a typo stops the start naming DATABASE_URL instead of a bare "Invalid URL" after the start began. The problem
 * never quotes the value (it may hold a password).
 */
function databaseUrlProblem(value: string): string | undefined {
  if (!/^postgres(ql)?:\/\//.test(value)) return 'must be a postgresql:// URL';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'not a valid URL (postgresql://user[:password]@host[:port 1-65535]/database, with special characters in user and password percent-encoded)';
  }
  // An empty host is pg's default (localhost, or PGHOST / `?host=` for a socket directory), as before.
  if (url.port !== '' && Number(url.port) < 1) return 'port must be 1-65535';
  // A `#` in a password cuts the URL short: `postgresql://postgres:p@ss#word@localhost:5432/webhooks` parses as host
  // "ss" and no database, and the start then retried a host that does not exist until STARTUP_WAIT_MS ran out.
  if (url.hash !== '' || value.includes('#')) {
    return "contains '#', which ends a URL: percent-encode it in the user name or password (# is %23, @ is %40, / is %2F, ? is %3F)";
  }
  if (url.pathname.replace(/^\//, '') === '') {
    return 'names no database (postgresql://user[:password]@host[:port]/database); percent-encode special characters in the user name and password';
  }
  return undefined;
}

/**
 * A token a request carries in an HTTP header (ADMIN_API_TOKEN as `Authorization: Bearer …`, PRESTOP_TOKEN as
 * `X-Prestop-Token`): one run of printable ASCII. Whitespace could never be sent (the trailing newline of `echo` into a
 * Kubernetes Secret). Nor can anything outside ASCII be sent as written: a header is bytes, curl sends UTF-8 (read back
 * as Latin-1, "é" arrives as "Ã©"), a browser's fetch Latin-1 or nothing at all (a TypeError, "the service could not be
 * reached"), so such a token matched no request, or only the console's, and every other was answered 401.
 */
const headerToken = () =>
  z
    .string()
    .optional()
    .refine((value) => value === undefined || value === '' || !/\s/.test(value), 'must not contain whitespace (a trailing newline? write the Secret with printf or echo -n)')
    .refine(
      (value) => value === undefined || value === '' || /^[\x21-\x7e]+$/.test(value),
      'must be printable ASCII (letters, digits and punctuation): an HTTP header cannot carry other characters as written (curl sends UTF-8, a browser Latin-1 or nothing), so no request would match it; openssl rand -hex 20 makes one',
    );

/** The shortest RETENTION_COMPLETED_DAYS other than 0: Stripe's and PayPal's retry window. */
export const MIN_RETENTION_DAYS = 3;

/**
 * Every environment variable the service reads, with its default. `.env.example` lists the same names;
 * a test keeps the two (and the Helm chart) in step.
 */
export const configSchema = z.object({
  SERVICE_ROLE: oneOf(['all', 'ingress', 'worker'], 'all'),
  PORT: integer(3000, 0, 65535),
  HOST: z
    .string()
    .default('0.0.0.0')
    .refine(isHostName, 'must be an IP address (0.0.0.0, ::, 127.0.0.1) or a host name (dot-separated labels of letters, digits and hyphens)'),
  /**
   * Express `trust proxy` (e.g. `1` behind one load balancer), so rate limits see real client addresses: `true`,
   * `false`, a hop count, or comma-separated addresses, subnets and the names loopback, linklocal, uniquelocal.
   * `true` is accepted with a warning at start (trustProxyWarning): it lets clients choose their own address.
   */
  TRUST_PROXY: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      const problem = value === undefined ? undefined : trustProxyProblem(value);
      if (problem) {
        ctx.addIssue({
          code: 'custom',
          message: `${problem} (expected true, false, a hop count, or comma-separated IP addresses, subnets (10.0.0.0/8) and loopback, linklocal, uniquelocal)`,
        });
      }
    }),
  DATABASE_URL: z
    .string()
    .default('postgresql://postgres@localhost:5432/webhooks')
    .superRefine((value, ctx) => {
      const problem = databaseUrlProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  DATABASE_POOL_SIZE: integer(20, 1, 500),
  REDIS_URL: z
    .string()
    .optional()
    .refine((value) => value === undefined || value === '' || isRedisUrl(value), 'must be a redis:// or rediss:// URL (host, optional port 1-65535, optional /db number)'),
  /** Checked (isHostName) only where it is used, without REDIS_URL: see loadConfig. */
  REDIS_HOST: z.string().min(1).default('localhost'),
  REDIS_PORT: integer(6379, 1, 65535),
  /** Key prefix for BullMQ's keys; lets several deployments or test runs share one Redis. */
  QUEUE_PREFIX: z.string().min(1).default('bull'),
  QUEUE_NAME: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').default('webhook-events'),
  STRIPE_WEBHOOK_SECRET: secretList,
  GITHUB_WEBHOOK_SECRET: secretList,
  PAYPAL_WEBHOOK_ID: z.string().optional(),
  /**
   * `host[:port]` entries (or `*.domain[:port]`), read by the same parser the PayPal verifier builds its allowlist with.
   * Empty means PayPal's own certificate hosts; a value holding no entry at all (`,,,`) is refused: it meant those as
   * well, without a word, though whoever set it meant a list of their own.
   */
  PAYPAL_CERT_HOSTS: z
    .string()
    .optional()
    .refine(
      // Unset (or empty, which loadConfig reads as unset) is PayPal's own certificate hosts.
      (value) => value === undefined || commaItems(value).length > 0,
      "holds no host, only commas and blanks: give host[:port] entries, comma-separated, or leave it empty for PayPal's own certificate hosts",
    )
    .transform(commaItems)
    .superRefine((entries, ctx) => {
      for (const entry of entries) {
        try {
          parseCertHosts([entry]);
        } catch {
          ctx.addIssue({ code: 'custom', message: `entry '${entry}' is not host[:port] (e.g. certs.example.com or localhost:8443; *.domain[:port] for a domain's hosts)` });
          return;
        }
      }
    }),
  PROVIDERS_FILE: z.string().optional(),
  ROUTES_FILE: z.string().optional(),
  // A bearer token is one run of printable ASCII (headerToken): any other token could never be sent as written, and every
  // operator would get 401 with no sign why.
  ADMIN_API_TOKEN: headerToken(),
  // Sent by the kubelet in an HTTP header (X-Prestop-Token), which cannot carry whitespace either.
  PRESTOP_TOKEN: headerToken(),
  /** A tracing UI's URL for one trace, `{traceId}` where the id goes; the console links each event's trace there. */
  TRACE_URL_TEMPLATE: z
    .string()
    .optional()
    .refine((value) => value === undefined || (/^https?:\/\/[^\s]+$/.test(value) && value.includes('{traceId}')), 'must be an http(s) URL containing {traceId}'),
  MAX_BODY_BYTES: integer(1_048_576, 1, 64 * 1_048_576),
  SIGNATURE_TOLERANCE_SECONDS: integer(300, 1, 86_400),
  /** Failed verifications one client address may cause per minute before it gets 429 (real traffic is unaffected). */
  VERIFICATION_FAILURE_LIMIT_PER_MINUTE: integer(120, 1),
  /**
   * Duplicates (webhooks stored before) one client address is answered 200 per minute; its further ones get 429. A
   * provider retries a delivery a handful of times; a captured one re-sent at will costs PostgreSQL a write and a
   * read each time (see DuplicateBudget).
   */
  DUPLICATE_WEBHOOK_LIMIT_PER_MINUTE: integer(600, 1),
  /** Admin requests with a wrong bearer token one client address may make per minute; then 429 until the minute ends. */
  ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE: integer(20, 1),
  JOB_ATTEMPTS: integer(8, 1, 100),
  JOB_BACKOFF_MS: milliseconds(1000, 1),
  WORKER_CONCURRENCY: integer(32, 1, 1000),
  /** How long a worker's lock on a job lasts; a crashed worker's jobs come back after about this long. */
  WORKER_LOCK_DURATION_MS: milliseconds(30_000, 1000),
  WORKER_STALLED_INTERVAL_MS: milliseconds(30_000, 1000),
  DELIVERY_TIMEOUT_MS: milliseconds(10_000, 1),
  RECONCILER_INTERVAL_MS: milliseconds(15_000, 100),
  RECONCILER_STALE_MS: milliseconds(30_000, 0),
  /**
   * Completed events older than this are deleted (0 keeps them forever). Dead letters are kept. At least 3 days: an
   * event's own (provider, id) is what makes a provider's retry a duplicate, and Stripe and PayPal retry for 3 days
   * (a retry of an event whose 2xx was lost would otherwise be stored, and delivered, again).
   */
  RETENTION_COMPLETED_DAYS: integer(30, 0).refine(
    (days) => days === 0 || days >= MIN_RETENTION_DAYS,
    `must be 0 (keep) or at least ${MIN_RETENTION_DAYS}: Stripe and PayPal retry an event for 3 days, and a retry after its event was deleted would be stored and delivered again`,
  ),
  /**
   * How long the replay key of a deleted event (the body digest of a GitHub or `hmac` delivery, which no timestamp
   * bounds) is kept after retention deleted the event, so that a captured delivery re-sent later stays a duplicate;
   * 0 keeps them forever. See the README's retention section.
   */
  RETENTION_TOMBSTONE_DAYS: integer(365, 0),
  RETENTION_INTERVAL_MS: milliseconds(3_600_000, 1000),
  SHUTDOWN_TIMEOUT_MS: milliseconds(25_000, 100),
  /**
   * How long the start waits for PostgreSQL to accept connections (0: fail at once): one bound for all the start's
   * waits (PostgreSQL, the migrations' locks, Redis), counted from when it began (StartDeadline).
   */
  STARTUP_WAIT_MS: milliseconds(120_000, 0),
  LOG_LEVEL: oneOf(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'], 'info'),
  /** Heap above this many MiB makes GET /health report memory as down. Unset: 90% of V8's heap limit. */
  HEALTH_MAX_HEAP_MB: z.preprocess((value) => (value === '' ? undefined : value), decimalDigits.pipe(z.number().min(16)).optional()),
  /** Set by the Downward API in Kubernetes; enables the pod-deletion-cost annotation. */
  POD_NAME: z.string().optional(),
  POD_NAMESPACE: z.string().optional(),
  POD_DELETION_COST_ENABLED: booleanFlag(true),
  /** Read by the tracing preload before this schema runs; validated here so a typo still stops the start. */
  OTEL_SDK_DISABLED: booleanFlag(false),
});

export type RawConfig = z.infer<typeof configSchema>;

/** Names of every variable in the schema (used to check `.env.example` and the Helm chart). */
export const configVariableNames: readonly string[] = Object.keys(configSchema.shape);
