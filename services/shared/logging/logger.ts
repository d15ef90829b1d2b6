import { trace } from '@opentelemetry/api';
import winston from 'winston';
import { currentContext } from './request-context.js';

const INVALID_TRACE_ID = '00000000000000000000000000000000';

/** Fields every line carries: who logged it, and in which request, job and trace. */
const contextFields = winston.format((info) => {
  const context = currentContext();
  if (context) {
    if (context.correlationId && info.correlationId === undefined) info.correlationId = context.correlationId;
    if (context.eventId && info.eventId === undefined) info.eventId = context.eventId;
    if (context.provider && info.provider === undefined) info.provider = context.provider;
    if (context.eventType && info.eventType === undefined) info.eventType = context.eventType;
  }
  // The active span's ids when tracing is on (the real trace); else those the request context made up or took
  // from the caller's traceparent.
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext && spanContext.traceId !== INVALID_TRACE_ID) {
    info.traceId ??= spanContext.traceId;
    info.spanId ??= spanContext.spanId;
  } else if (context?.traceId) {
    info.traceId ??= context.traceId;
    if (context.spanId) info.spanId ??= context.spanId;
  }
  return info;
});

/** Error objects in metadata become {name, message, code, stack}: plain JSON, never the object's other fields. */
const serializeErrors = winston.format((info) => {
  for (const [key, value] of Object.entries(info)) {
    if (value instanceof Error) info[key] = serializeError(value);
  }
  return info;
});

function serializeError(error: Error, depth = 0): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  const cause = (error as { cause?: unknown }).cause;
  return {
    name: error.name,
    message: error.message,
    ...(code !== undefined ? { code } : {}),
    stack: error.stack,
    ...(cause instanceof Error && depth < 3 ? { cause: serializeError(cause, depth + 1) } : {}),
  };
}

/**
 * Metadata keys whose values are credentials or signatures: whatever a caller passes under such a key is
 * replaced, so a header map or an options object logged by mistake cannot leak them.
 */
const SENSITIVE_KEY = /(secret|token|password|passwd|authorization|signature|api[-_]?key|cookie|^raw_?body$|^payload$)/i;
const REDACTED = '[REDACTED]';

function redactValue(value: unknown, depth: number): unknown {
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[key] = SENSITIVE_KEY.test(key) ? REDACTED : redactValue(inner, depth + 1);
  return out;
}

const redactKeys = winston.format((info) => {
  for (const [key, value] of Object.entries(info)) {
    if (key === 'level' || key === 'message') continue;
    if (SENSITIVE_KEY.test(key)) info[key] = REDACTED;
    else if (value !== null && typeof value === 'object') info[key] = redactValue(value, 0);
  }
  return info;
});

/** Secret values (from the environment, plus any registered) that must never appear in a line, whatever the key. */
const secretValues = new Set<string>();
let environmentSecretsRead = false;

function readEnvironmentSecrets(): void {
  environmentSecretsRead = true;
  const env = process.env;
  registerSecretValues([
    ...(env.STRIPE_WEBHOOK_SECRET ?? '').split(','),
    ...(env.GITHUB_WEBHOOK_SECRET ?? '').split(','),
    env.ADMIN_API_TOKEN,
    urlPassword(env.DATABASE_URL),
    urlPassword(env.REDIS_URL),
  ]);
}

function urlPassword(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    return decodeURIComponent(new URL(value).password) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Adds values no log line may contain (e.g. secrets read from PROVIDERS_FILE or ROUTES_FILE); each occurrence is
 * written as [REDACTED]. The configured provider secrets, ADMIN_API_TOKEN and the passwords in DATABASE_URL and
 * REDIS_URL are registered from the environment automatically. Values under 6 characters are ignored.
 */
export function registerSecretValues(values: Iterable<string | undefined>): void {
  for (const value of values) {
    const trimmed = value?.trim();
    if (trimmed && trimmed.length >= 6) secretValues.add(trimmed);
  }
}

const MESSAGE = Symbol.for('message');

/** Last step, on the serialized line: any registered secret value becomes [REDACTED]. */
const redactSecretValues = winston.format((info) => {
  if (!environmentSecretsRead) readEnvironmentSecrets();
  if (secretValues.size === 0) return info;
  const line = (info as unknown as Record<symbol, unknown>)[MESSAGE];
  if (typeof line !== 'string') return info;
  let redacted = line;
  for (const secret of secretValues) {
    if (redacted.includes(secret)) redacted = redacted.split(secret).join(REDACTED);
    // The same value as JSON would escape it (quotes, backslashes), in case a secret holds such characters.
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret && redacted.includes(escaped)) redacted = redacted.split(escaped).join(REDACTED);
  }
  (info as unknown as Record<symbol, unknown>)[MESSAGE] = redacted;
  return info;
});

const root = winston.createLogger({
  level: process.env.LOG_LEVEL ?? 'info',
  defaultMeta: { service: 'event-driven-integration-service', role: process.env.SERVICE_ROLE ?? 'all' },
  format: winston.format.combine(
    winston.format.timestamp(),
    contextFields(),
    serializeErrors(),
    redactKeys(),
    winston.format.json(),
    redactSecretValues(),
  ),
  transports: [new winston.transports.Console()],
});

export type Logger = winston.Logger;

/** A logger whose lines name the part of the service that wrote them, e.g. `createLogger('ingress')`. */
export function createLogger(scope: string): Logger {
  return root.child({ scope });
}

/** Applies the configured level and role once the configuration is loaded. */
export function configureLogging(options: { level: string; role: string }): void {
  root.level = options.level;
  root.defaultMeta = { ...root.defaultMeta, role: options.role };
}

/** Waits until buffered lines are written; used right before the process exits. */
export async function flushLogs(): Promise<void> {
  await new Promise<void>((resolve) => {
    if (process.stdout.writableLength === 0) resolve();
    else process.stdout.once('drain', () => resolve());
  });
}
