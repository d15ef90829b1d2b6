import { register } from 'node:module';
import { hostname } from 'node:os';
import type { Span } from '@opentelemetry/api';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { envDetector, hostDetector, osDetector, processDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { HEALTH_PATH, METRICS_PATH } from '../health/health-paths.js';
import { createLogger } from '../logging/logger.js';
import type { RequestContext } from '../logging/request-context.js';
import { ExportFailureLoggingSpanExporter } from './export-failure-logging-span-exporter.js';
import { assertValidOtlpEndpoints } from './otlp-endpoint.js';
import { RedactingSpanExporter } from './redacting-span-exporter.js';
import { onTracingFlush } from './tracing-state.js';

/** The service name traces appear under unless OTEL_SERVICE_NAME says otherwise. */
export const DEFAULT_SERVICE_NAME = 'event-driven-integration-service';

let sdk: NodeSDK | undefined;

/**
 * Copies what the request handlers learned about a webhook (kept on `req.context` and `res.locals`) onto the
 * HTTP server span, right before it ends: the one span per request then says which provider, event type and
 * event id it was about, and how it ended (the `webhook_events_received_total` outcome).
 */
export function annotateServerSpan(span: Span, request: unknown, response: unknown): void {
  const context = (request as { context?: RequestContext }).context;
  const outcome = (response as { locals?: { outcome?: unknown } }).locals?.outcome;
  if (!context && outcome === undefined) return;
  if (context?.provider) span.setAttribute('webhook.provider', context.provider);
  if (context?.eventType) span.setAttribute('webhook.event_type', context.eventType);
  if (context?.eventId) span.setAttribute('webhook.event_id', context.eventId);
  if (context?.correlationId) span.setAttribute('webhook.correlation_id', context.correlationId);
  if (typeof outcome === 'string') span.setAttribute('webhook.outcome', outcome);
}

/**
 * Starts the OpenTelemetry SDK: OTLP gRPC exporter (standard OTEL_EXPORTER_OTLP_* variables, default
 * http://localhost:4317; OTEL_BSP_* for batching; OTEL_TRACES_SAMPLER*), W3C trace context, and instrumentation
 * of http, express, pg, ioredis and undici. The ESM loader hook is registered first so modules imported afterwards
 * (express, pg, ioredis) are instrumented.
 * @throws ConfigError when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is not an endpoint the exporter can use.
 */
export async function startTracing(): Promise<void> {
  if (sdk) return;
  // Before anything is registered: a bad endpoint throws ConfigError rather than an Invalid URL from the exporter.
  assertValidOtlpEndpoints(process.env);
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);

  process.env.OTEL_SERVICE_NAME ??= DEFAULT_SERVICE_NAME;
  // Logs are JSON lines on stdout (winston); nothing emits OpenTelemetry log records, so no log exporter.
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  // Metrics are prom-client's, scraped from /metrics. Left unset, the SDK also starts an OTLP metrics exporter, and
  // its default protocol is OTLP/HTTP whatever the traces use: every minute it posted `/v1/metrics` to the gRPC trace
  // endpoint, which cannot take it, and the instrumentations kept histograms nobody read. OTEL_METRICS_EXPORTER=otlp
  // (with OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=grpc for a gRPC collector), console or prometheus turns them on, and so
  // does configuring a metrics endpoint or protocol (an operator who did that wants them, as the SDK's default gave).
  if (!process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT && !process.env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL) {
    process.env.OTEL_METRICS_EXPORTER ??= 'none';
  }
  const podName = process.env.POD_NAME;
  const logger = createLogger('tracing');
  sdk = new NodeSDK({
    // Ours first, then detected attributes; OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME (envDetector) win.
    // No serviceInstanceIdDetector: it would replace the pod name below with a random uuid.
    resource: resourceFromAttributes({
      'service.namespace': 'webhooks',
      'service.instance.id': podName ?? hostname(),
      'deployment.role': process.env.SERVICE_ROLE?.trim() || 'all',
      ...(podName ? { 'k8s.pod.name': podName } : {}),
      ...(process.env.POD_NAMESPACE ? { 'k8s.namespace.name': process.env.POD_NAMESPACE } : {}),
    }),
    ...(process.env.OTEL_NODE_RESOURCE_DETECTORS ? {} : { resourceDetectors: [processDetector, hostDetector, osDetector, envDetector] }),
    // Configured secrets are redacted in spans as in log lines (a destination's URL, an answer's error text).
    // Failed exports (collector unreachable) are warn lines, rate-limited, instead of silently dropped batches.
    traceExporter: new RedactingSpanExporter(new ExportFailureLoggingSpanExporter(new OTLPTraceExporter(), (message, fields) => logger.warn(message, fields))),
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes would be most of the traces and none of the interest.
        ignoreIncomingRequestHook: (req) => (req.url ?? '').startsWith(HEALTH_PATH) || (req.url ?? '').split('?')[0] === METRICS_PATH,
        applyCustomAttributesOnSpan: (span, request, response) => {
          // Server spans only (a ServerResponse can writeHead; a client's IncomingMessage cannot).
          if (typeof (response as { writeHead?: unknown }).writeHead === 'function') annotateServerSpan(span, request, response);
        },
      }),
      // Route handlers only: a span per middleware and router layer (security headers, request context, metrics,
      // access log, health routers…) was ten spans a webhook with nothing to tell, and most of tracing's CPU cost.
      new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE, ExpressLayerType.ROUTER] }),
      // Only queries inside a trace (a request, a job): the health checks' `SELECT 1` and the reconciler's
      // polling would otherwise each make a trace of their own. Parameters are never recorded.
      new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
      new IORedisInstrumentation({ requireParentSpan: true }),
      // Forwards to destinations (undici): a client span under webhook.deliver, and the traceparent the
      // destination continues. Only inside a trace, like pg and ioredis.
      new UndiciInstrumentation({ requireParentforSpans: true }),
    ],
  });
  sdk.start();
  await waitForAllMessagesAcknowledged();

  // Spans still buffered are exported at the end of a graceful shutdown, before process.exit.
  onTracingFlush(async () => {
    await sdk?.shutdown();
    sdk = undefined;
  });
}
