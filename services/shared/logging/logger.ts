import { trace } from '@opentelemetry/api';
import winston from 'winston';
import { currentContext } from './request-context.js';

/** Fields every line carries: who logged it, and in which request, job and trace. */
const contextFields = winston.format((info) => {
  const context = currentContext();
  if (context) {
    if (context.correlationId && info.correlationId === undefined) info.correlationId = context.correlationId;
    if (context.eventId && info.eventId === undefined) info.eventId = context.eventId;
    if (context.provider && info.provider === undefined) info.provider = context.provider;
  }
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext && spanContext.traceFlags !== undefined && spanContext.traceId !== '00000000000000000000000000000000') {
    info.traceId ??= spanContext.traceId;
    info.spanId ??= spanContext.spanId;
  } else if (context?.traceId) {
    info.traceId ??= context.traceId;
    if (context.spanId) info.spanId ??= context.spanId;
  }
  return info;
});

/** Error objects in metadata become {name, message, code} — never a stack with request data in it at info level. */
const serializeErrors = winston.format((info) => {
  for (const [key, value] of Object.entries(info)) {
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code;
      info[key] = { name: value.name, message: value.message, ...(code !== undefined ? { code } : {}), stack: value.stack };
    }
  }
  return info;
});

const root = winston.createLogger({
  level: process.env.LOG_LEVEL ?? 'info',
  defaultMeta: { service: 'event-driven-integration-service', role: process.env.SERVICE_ROLE ?? 'all' },
  format: winston.format.combine(winston.format.timestamp(), contextFields(), serializeErrors(), winston.format.json()),
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
