/** `npm run migrate`: creates the database when missing, then applies pending migrations. */
import { configureLogging, createLogger, flushLogs } from './shared/logging/logger.js';
import { runMigrations } from './shared/database/run-migrations.js';
import { loadConfigOrExit } from './runtime/load-config-or-exit.js';
import { StartDeadline } from './shared/startup/start-deadline.js';

// Only the migrations: no role runs here, and no pool of DATABASE_POOL_SIZE is opened (see LoadConfigOptions).
const config = loadConfigOrExit({}, { migrationsOnly: true });
configureLogging({ level: config.logLevel, role: 'migrate' });
const logger = createLogger('migrations');
// A Job past its activeDeadlineSeconds, or a pod deleted, gets SIGTERM: the statement under way is cancelled before
// the exit (a CREATE INDEX CONCURRENTLY waiting for a backup's transaction otherwise went on waiting in PostgreSQL,
// and held up the next run's build). A second signal exits at once.
const stop = new AbortController();
const onSignal = (signal: NodeJS.Signals) => {
  if (stop.signal.aborted) process.exit(1);
  logger.warn('signal received: stopping the migrations', { signal });
  stop.abort();
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
try {
  // A migration Job may start before its database does: wait for it as a start does, then for what other sessions hold
  // (a table lock, the older transactions an index build waits out, the migrations' lock another process holds): all
  // these waits together up to STARTUP_WAIT_MS from now (0: fail at once). The chart passes the roles' STARTUP_WAIT_MS
  // to its migration Job (within migrations.activeDeadlineSeconds).
  await runMigrations({ url: config.database.url, logger, deadline: new StartDeadline(config.startupWaitMs), abort: stop.signal });
  await flushLogs();
  process.exit(0);
} catch (error) {
  logger.error('migrations failed', { error });
  process.stderr.write(`Migrations failed: ${(error as Error).message}\n`);
  await flushLogs();
  process.exit(1);
}
