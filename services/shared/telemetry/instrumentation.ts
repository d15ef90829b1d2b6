/**
 * Preloaded with `node --import`: starts OpenTelemetry before any instrumented module (http, express, pg,
 * ioredis) is imported. With OTEL_SDK_DISABLED=true nothing is loaded at all, so tracing off costs nothing.
 */
if (process.env.OTEL_SDK_DISABLED !== 'true') {
  const { startTracing } = await import('./tracing.js');
  await startTracing();
}
export {};
