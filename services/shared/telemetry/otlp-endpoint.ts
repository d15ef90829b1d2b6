import { ConfigError } from '../config/config.js';

/** Where the OTLP trace exporter reads its endpoint: the traces-specific variable wins over the shared one. */
const OTLP_ENDPOINT_VARIABLES = ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'] as const;

/**
 * Why the gRPC exporter could not use `value` as its endpoint, or undefined. It is read as the exporter reads it
 * (trimmed, `https://` assumed without a scheme, then a WHATWG URL), where a port out of range, a comma-separated
 * list or a space is a `TypeError: Invalid URL` thrown from inside the SDK. The value is not quoted (it may carry
 * credentials).
 */
export function otlpEndpointProblem(value: string): string | undefined {
  const trimmed = value.trim();
  const withScheme = /^\w{1,8}:\/\//.test(trimmed) ? trimmed : `https://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return 'not a valid URL: one endpoint, http(s)://host:port with a port 1-65535 (e.g. http://otel-collector:4317)';
  }
  if (url.protocol === 'unix:') return undefined;
  if (url.hostname === '') return 'names no host (e.g. http://otel-collector:4317)';
  if (url.port === '0') return 'port must be 1-65535';
  return undefined;
}

/**
 * Checks the OTLP endpoint variables before the exporter reads them, so a mistake stops the start with one line
 * naming the variable (as every other configuration mistake does) instead of a stack trace. Blank means unset.
 * @throws ConfigError naming the first bad variable.
 */
export function assertValidOtlpEndpoints(env: NodeJS.ProcessEnv): void {
  for (const variable of OTLP_ENDPOINT_VARIABLES) {
    const value = env[variable];
    if (value === undefined || value.trim() === '') continue;
    const problem = otlpEndpointProblem(value);
    if (problem) throw new ConfigError(variable, problem);
  }
}
