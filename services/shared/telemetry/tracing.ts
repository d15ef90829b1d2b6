import { register } from 'node:module';
import { hostname } from 'node:os';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { HEALTH_PATH, METRICS_PATH } from '../health/health-paths.js';
import { onTracingFlush } from './tracing-state.js';

/** The service name traces appear under unless OTEL_SERVICE_NAME says otherwise. */
export const DEFAULT_SERVICE_NAME = 'event-driven-integration-service';

let sdk: NodeSDK | undefined;

/**
 * Starts the OpenTelemetry SDK: OTLP gRPC exporter (standard OTEL_EXPORTER_OTLP_* variables, default
 * http://localhost:4317), W3C trace context, and instrumentation of http, express, pg and ioredis. The ESM
 * loader hook is registered first so modules imported afterwards (express, pg, ioredis) are instrumented.
 */
export async function startTracing(): Promise<void> {
  if (sdk) return;
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);

  process.env.OTEL_SERVICE_NAME ??= DEFAULT_SERVICE_NAME;
  sdk = new NodeSDK({
    resource: resourceFromAttributes({
      'service.namespace': 'webhooks',
      'service.instance.id': process.env.POD_NAME ?? hostname(),
      'deployment.role': process.env.SERVICE_ROLE ?? 'all',
      ...(process.env.POD_NAME ? { 'k8s.pod.name': process.env.POD_NAME } : {}),
      ...(process.env.POD_NAMESPACE ? { 'k8s.namespace.name': process.env.POD_NAMESPACE } : {}),
    }),
    traceExporter: new OTLPTraceExporter(),
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes would be most of the traces and none of the interest.
        ignoreIncomingRequestHook: (req) => (req.url ?? '').startsWith(HEALTH_PATH) || req.url === METRICS_PATH,
      }),
      new ExpressInstrumentation(),
      new PgInstrumentation({ enhancedDatabaseReporting: false }),
      new IORedisInstrumentation(),
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
