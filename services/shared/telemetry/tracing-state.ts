/**
 * Lets the shutdown path flush spans without importing the OpenTelemetry SDK: tracing registers its flush
 * here when it starts; with tracing off nothing is registered and {@link flushTracing} is free.
 */
let flushHook: (() => Promise<void>) | undefined;

export function onTracingFlush(hook: () => Promise<void>): void {
  flushHook = hook;
}

export async function flushTracing(): Promise<void> {
  await flushHook?.().catch(() => undefined);
}
