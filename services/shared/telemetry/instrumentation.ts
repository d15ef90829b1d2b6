/**
 * Preloaded with `node --import`: starts OpenTelemetry before any instrumented module (http, express, pg,
 * ioredis) is imported. With tracing off (OTEL_SDK_DISABLED=true|1|yes, or OTEL_TRACES_EXPORTER=none) nothing
 * but dotenv is loaded, so tracing off costs nothing.
 */
import { loadDotenvFile } from '../config/dotenv-file.js';
import { tracingDisabled } from './tracing-switch.js';

// The OTEL_* variables may come from `.env` like every other setting (real environment variables win; DOTENV_CONFIG_PATH
// names another file); the exporter reads them when it is built, which is now, before the service's own configuration
// is loaded. A DOTENV_CONFIG_PATH that cannot be read stops the start here, as loadConfigOrExit would.
const dotenvProblem = loadDotenvFile();
if (dotenvProblem !== undefined) {
  const { writeStderrLine } = await import('../logging/stderr-line.js');
  writeStderrLine(dotenvProblem);
  process.exit(78); // EX_CONFIG
}

if (!tracingDisabled(process.env)) {
  const { startTracing } = await import('./tracing.js');
  const { ConfigError } = await import('../config/config.js');
  try {
    await startTracing();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // The same one line and exit code as the service's own configuration check (loadConfigOrExit), which runs later.
    const { writeStderrLine } = await import('../logging/stderr-line.js');
    writeStderrLine(error.message);
    process.exit(78); // EX_CONFIG
  }
}
export {};
