import { trace } from '@opentelemetry/api';
import winston from 'winston';
import { BatchedStdoutTransport } from './batched-stdout-transport.js';
import { currentContext } from './request-context.js';
import { compileSecretPattern } from './secret-pattern.js';

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
export const SENSITIVE_KEY = /(secret|token|password|passwd|authorization|signature|api[-_]?key|cookie|^raw_?body$|^payload$)/i;
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

/**
 * One pass over a line's fields: Error objects become {name, message, code, stack} (plain JSON, never the object's
 * other fields), and whatever a caller passes under a sensitive key is replaced. (Two formats did this in two passes
 * over every line's entries; one is cheaper and the order is the same: an Error under a sensitive key is redacted.)
 */
const errorsAndSensitiveKeys = winston.format((info) => {
  for (const key of Object.keys(info)) {
    let value = info[key];
    if (value instanceof Error) info[key] = value = serializeError(value);
    if (key === 'level' || key === 'message') continue;
    if (SENSITIVE_KEY.test(key)) info[key] = REDACTED;
    else if (value !== null && typeof value === 'object') info[key] = redactValue(value, 0);
  }
  return info;
});

/** Secret values (from the environment, plus any registered) that must never appear in a line, whatever the key. */
const secretValues = new Set<string>();
/** All of them in one precompiled regex (see secret-pattern.ts); undefined until built, rebuilt after registration. */
let secretPattern: RegExp | null | undefined;
let environmentSecretsRead = false;

function readEnvironmentSecrets(): void {
  environmentSecretsRead = true;
  const env = process.env;
  registerSecretValues([
    ...(env.STRIPE_WEBHOOK_SECRET ?? '').split(','),
    ...(env.GITHUB_WEBHOOK_SECRET ?? '').split(','),
    env.ADMIN_API_TOKEN,
    env.PRESTOP_TOKEN,
    urlPassword(env.DATABASE_URL),
    urlPassword(env.REDIS_URL),
  ]);
}

/** The password of a URL (`scheme://user:password@host`), decoded, or undefined. */
export function urlPassword(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    return decodeURIComponent(new URL(value).password) || undefined;
  } catch {
    return undefined;
  }
}

const MIN_SECRET_LENGTH = 6;
/** A Standard Webhooks secret's key material follows this prefix; it is redacted on its own too. */
const STANDARD_WEBHOOKS_PREFIX = 'whsec_';

/**
 * Adds values no log line may contain; each occurrence, raw, JSON-escaped or percent-encoded, is written as
 * [REDACTED]. The service registers every configured secret at start (configured-secrets.ts); the provider secrets,
 * ADMIN_API_TOKEN, PRESTOP_TOKEN and the passwords in DATABASE_URL and REDIS_URL are also read from the environment on
 * the first line, so even lines written before the configuration is loaded are covered. Values under 6 characters are
 * ignored.
 */
export function registerSecretValues(values: Iterable<string | undefined>): void {
  const before = secretValues.size;
  for (const value of values) {
    const trimmed = value?.trim();
    if (!trimmed || trimmed.length < MIN_SECRET_LENGTH) continue;
    secretValues.add(trimmed);
    if (trimmed.startsWith(STANDARD_WEBHOOKS_PREFIX) && trimmed.length - STANDARD_WEBHOOKS_PREFIX.length >= MIN_SECRET_LENGTH) {
      secretValues.add(trimmed.slice(STANDARD_WEBHOOKS_PREFIX.length));
    }
  }
  if (secretValues.size !== before) secretPattern = undefined;
}

/**
 * `line` with every registered secret, in any form secret-pattern.ts knows, replaced by [REDACTED]. Runs on every
 * serialized line: one pass of one precompiled regex, which returns the line itself when nothing matches.
 */
export function redactSecretValuesIn(line: string): string {
  if (!environmentSecretsRead) readEnvironmentSecrets();
  if (secretPattern === undefined) secretPattern = compileSecretPattern(secretValues);
  return secretPattern === null ? line : line.replace(secretPattern, redactMatch);
}

/**
 * A match right after an odd number of backslashes starts inside a JSON escape (`\n` + a secret starting with
 * `n`): it is not the secret, and replacing it would leave a broken escape, so it stays.
 */
function redactMatch(match: string, offset: number, line: string): string {
  let backslashes = 0;
  for (let index = offset - 1; index >= 0 && line.charCodeAt(index) === 92; index--) backslashes++;
  return backslashes % 2 === 0 ? REDACTED : match;
}

const MESSAGE = Symbol.for('message');

/** Last step, on the serialized line: any registered secret value becomes [REDACTED]. */
const redactSecretValues = winston.format((info) => {
  const record = info as unknown as Record<symbol, unknown>;
  const line = record[MESSAGE];
  if (typeof line === 'string') record[MESSAGE] = redactSecretValuesIn(line);
  return info;
});

const stableJson = winston.format.json();

/**
 * The line as JSON: JSON.stringify, with `level`, `message` and `timestamp` first and the other fields in the order
 * they were given (who logged the line, the caller's fields, the context), about four times cheaper than winston's
 * json format, which sorts every object's keys in JavaScript (safe-stable-stringify) and cost more than the rest of a
 * line's formatting together. What JSON.stringify refuses (a circular reference, a BigInt) goes through winston's
 * format (keys sorted), as every line did before.
 */
const jsonLine = winston.format((info) => {
  try {
    (info as unknown as Record<symbol, unknown>)[MESSAGE] = JSON.stringify(Object.assign({ level: info.level, message: info.message, timestamp: info.timestamp }, info));
    return info;
  } catch {
    return stableJson.transform(info, stableJson.options);
  }
});

const stdoutTransport = new BatchedStdoutTransport();

const root = winston.createLogger({
  level: process.env.LOG_LEVEL?.trim() || 'info',
  defaultMeta: { service: 'event-driven-integration-service', role: process.env.SERVICE_ROLE?.trim() || 'all' },
  format: winston.format.combine(
    winston.format.timestamp(),
    contextFields(),
    errorsAndSensitiveKeys(),
    jsonLine(),
    redactSecretValues(),
  ),
  transports: [stdoutTransport],
});

const LEVEL = Symbol.for('level');
const streamWrite = root.write.bind(root);
const ignore = () => undefined;

/**
 * A line goes from the logger to the transport directly, formatted only if its level is enabled. winston passes every
 * line through two object-mode streams (the logger, then the transport, which drops it by level only after the whole
 * format chain ran): per line that cost more than the formatting itself, on the ingress's and the worker's hot paths
 * (an access line per request, lines per delivery). What winston's stream path would write is unchanged: the same
 * format chain, the same transport, nothing for a disabled level or a silent logger. Another transport added to the
 * logger (none is, in the service) takes winston's own path again.
 */
root.write = function writeDirect(info: winston.Logform.TransformableInfo): boolean {
  if (root.transports.length !== 1 || root.transports[0] !== stdoutTransport) return streamWrite(info);
  if (root.silent) return true;
  const level = (info[LEVEL] ??= info.level) as string;
  if (!root.isLevelEnabled(level)) return true;
  const line = root.format.transform(info, root.format.options);
  if (line) stdoutTransport.log(line as Record<string | symbol, unknown>, ignore);
  return true;
} as typeof root.write;

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
  stdoutTransport.flush();
  await new Promise<void>((resolve) => {
    if (process.stdout.writableLength === 0) resolve();
    else process.stdout.once('drain', () => resolve());
  });
}
