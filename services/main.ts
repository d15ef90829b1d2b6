/**
 * The service's entry point: `SERVICE_ROLE` = all (one process: migrations, HTTP, worker, reconciler),
 * ingress or worker. Tracing is started before this module by `--import .../telemetry/instrumentation.js`.
 */
import { configureLogging, createLogger } from './shared/logging/logger.js';
import { writeStderrLine } from './shared/logging/stderr-line.js';
import { loadConfigOrExit } from './runtime/load-config-or-exit.js';
import { checkPortAvailable, listenProblem } from './runtime/port-check.js';
import { startService } from './runtime/service.js';
import { installShutdownSignals } from './runtime/shutdown-signals.js';
import { StartAbortedError } from './shared/startup/start-aborted-error.js';
import { ConfigFileError } from './shared/config/config-file-error.js';

const config = loadConfigOrExit();
configureLogging({ level: config.logLevel, role: config.role });
const logger = createLogger('main');

process.on('unhandledRejection', (reason) => logger.error('unhandled promise rejection', { error: reason }));
// A thrown error nothing caught leaves the process in an unknown state: say what it was in the JSON log (where
// operators and the fault suite look, rather than a bare stack on stderr), then exit so Kubernetes restarts it.
process.on('uncaughtException', (error) => {
  logger.error('unhandled exception; exiting', { error });
  setTimeout(() => process.exit(1), 100).unref();
  process.exitCode = 1;
});

// Before the start: it may wait minutes for PostgreSQL (STARTUP_WAIT_MS), and a pod deleted meanwhile should stop
// with a log line and exit 0, not be killed by the signal.
const signals = installShutdownSignals({ timeoutMs: config.shutdownTimeoutMs, logger });

try {
  // A port another process holds stops the start before the migrations, naming PORT.
  await checkPortAvailable(config.http.port, config.http.host);
  const service = await startService(config, { abortStart: signals.abortStart });
  signals.serviceRunning(service.shutdown);
} catch (error) {
  if (error instanceof StartAbortedError) await signals.exitAfterAbortedStart();
  // One clear line for configuration mistakes found while building the parts (a bad PROVIDERS_FILE, say). A file's
  // problem is logged by its message alone: its stack only points into the file's parser, and made a second,
  // multi-line-looking record of what the line below already says.
  if (error instanceof ConfigFileError) logger.error('service failed to start', { problem: error.message });
  else logger.error('service failed to start', { error });
  writeStderrLine(`Failed to start: ${listenProblem(error, config.http.port, config.http.host) ?? (error as Error).message}`);
  process.exit(1);
}
