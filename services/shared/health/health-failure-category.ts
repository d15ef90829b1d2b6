/**
 * What `GET /health` and `/health/ready` say about a dependency that is down: a short, fixed category, never the
 * error's own text. These endpoints answer anyone who reaches the port (the ingress's is the public webhook port),
 * and the drivers' messages name hosts and ports ("connect ECONNREFUSED 10.0.3.7:5432"), users ("password
 * authentication failed for user …") and databases ("database … does not exist"). The full error goes to the log
 * (dependency-check-failure-log.ts), where operators find it next to the category.
 */
export type HealthFailureCategory =
  | 'timeout'
  | 'refused'
  | 'unreachable'
  | 'authentication failed'
  | 'not permitted'
  | 'database missing'
  | 'not migrated'
  | 'too many connections'
  | 'shutting down'
  | 'not accepting connections'
  | 'read-only'
  | 'read-only replica'
  | 'out of memory'
  | 'disk full'
  | 'persistence failed'
  | 'too few replicas'
  | 'failed';

/** An error of our own that knows its category (a refused Redis write, a schema without its migrations, a timeout). */
export interface CategorisedFailure {
  readonly healthCategory: HealthFailureCategory;
}

/** PostgreSQL SQLSTATEs by category; class 08 (connection exception) is `unreachable`. */
const POSTGRES_CODES: Record<string, HealthFailureCategory> = {
  '28P01': 'authentication failed',
  '28000': 'authentication failed',
  '42501': 'not permitted',
  '3D000': 'database missing',
  '42P01': 'not migrated',
  '53300': 'too many connections',
  '57P01': 'shutting down',
  '57P02': 'shutting down',
  '57P03': 'not accepting connections',
  '25006': 'read-only',
  '53200': 'out of memory',
  '53100': 'disk full',
  '57014': 'timeout',
};

/** Node's socket and resolver errors by category. */
const SOCKET_CODES: Record<string, HealthFailureCategory> = {
  ECONNREFUSED: 'refused',
  ETIMEDOUT: 'timeout',
  ENOTFOUND: 'unreachable',
  EAI_AGAIN: 'unreachable',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  ECONNRESET: 'unreachable',
  EPIPE: 'unreachable',
};

/**
 * Redis's reply errors begin with their code ("WRONGPASS invalid username-password pair …"). The Redis check's own
 * errors (a write refused, a connection refused: redis-write-check.ts, redis-connection-refusal.ts) take their
 * category from here, by the reply they keep as their cause: this is the one mapping.
 */
const REDIS_REPLY_CODES: Record<string, HealthFailureCategory> = {
  WRONGPASS: 'authentication failed',
  NOAUTH: 'authentication failed',
  NOPERM: 'not permitted',
  READONLY: 'read-only replica',
  OOM: 'out of memory',
  MISCONF: 'persistence failed',
  NOREPLICAS: 'too few replicas',
};

/** Driver errors without a code, by their fixed wording (pg, pg-pool, ioredis); checked in order. */
const MESSAGES: Array<[RegExp, HealthFailureCategory]> = [
  // pg's connectionTimeoutMillis, pg-pool's wait for a client, ioredis's commandTimeout.
  [/timeout exceeded when trying to connect|connection timeout|^timeout expired$|Query read timeout|Command timed out/i, 'timeout'],
  // pg: the server closed the session; ioredis: not connected (the producer queues nothing offline) or closed.
  [/Connection terminated|terminating connection|Stream isn't writeable|Connection is closed|Reached the max retries per request limit/i, 'unreachable'],
];

/** The category of a dependency check's failure: its own if it knows it, else from the driver's code or wording. */
export function healthFailureCategory(error: unknown, depth = 0): HealthFailureCategory {
  if (typeof error !== 'object' || error === null) return 'failed';
  const own = (error as Partial<CategorisedFailure>).healthCategory;
  if (typeof own === 'string') return own;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    const known = POSTGRES_CODES[code] ?? SOCKET_CODES[code];
    if (known) return known;
    if (code.length === 5 && code.startsWith('08')) return 'unreachable';
  }
  const message = (error as { message?: unknown }).message;
  if (typeof message === 'string') {
    const replyCode = REDIS_REPLY_CODES[message.split(' ', 1)[0]!];
    if (replyCode && (error as { name?: unknown }).name === 'ReplyError') return replyCode;
    for (const [pattern, category] of MESSAGES) if (pattern.test(message)) return category;
  }
  // TypeORM wraps the driver's error; ours keep theirs as the cause.
  const inner = (error as { driverError?: unknown }).driverError ?? (error as { cause?: unknown }).cause;
  return inner !== undefined && inner !== error && depth < 3 ? healthFailureCategory(inner, depth + 1) : 'failed';
}
