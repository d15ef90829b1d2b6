const TRUE_VALUES = new Set(['true', '1', 'yes']);

/**
 * Whether tracing is off: OTEL_SDK_DISABLED takes the same values as the service's other flags (true/1/yes),
 * and OTEL_TRACES_EXPORTER=none (the standard way to export no traces) turns it off as well.
 */
export function tracingDisabled(env: NodeJS.ProcessEnv): boolean {
  if (TRUE_VALUES.has((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase())) return true;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim().toLowerCase()).filter(Boolean);
  return exporters.length > 0 && exporters.every((name) => name === 'none');
}
