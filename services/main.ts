/**
 * The service's entry point: `SERVICE_ROLE` = all (one process: migrations, HTTP, worker, reconciler),
 * ingress or worker. Tracing is started before this module by `--import .../telemetry/instrumentation.js`.
 */
import { configureLogging, createLogger } from './shared/logging/logger.js';
import { loadConfigOrExit } from './runtime/load-config-or-exit.js';
import { startService } from './runtime/service.js';
import { installShutdownSignals } from './runtime/shutdown-signals.js';

const config = loadConfigOrExit();
configureLogging({ level: config.logLevel, role: config.role });
const logger = createLogger('main');

process.on('unhandledRejection', (reason) => logger.error('unhandled promise rejection', { error: reason }));

try {
  const service = await startService(config);
  installShutdownSignals({ shutdown: service.shutdown, timeoutMs: config.shutdownTimeoutMs, logger });
} catch (error) {
  // One clear line for configuration mistakes found while building the parts (a bad PROVIDERS_FILE, say).
  logger.error('service failed to start', { error });
  process.stderr.write(`Failed to start: ${(error as Error).message}\n`);
  process.exit(1);
}
