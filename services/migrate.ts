/** `npm run migrate`: creates the database when missing, then applies pending migrations. */
import { configureLogging, createLogger, flushLogs } from './shared/logging/logger.js';
import { runMigrations } from './shared/database/run-migrations.js';
import { loadConfigOrExit } from './runtime/load-config-or-exit.js';

const config = loadConfigOrExit();
configureLogging({ level: config.logLevel, role: 'migrate' });
const logger = createLogger('migrations');
try {
  // A migration Job may start before its database does: wait for it as a start does, up to STARTUP_WAIT_MS (0: fail at
  // once). The chart passes the roles' STARTUP_WAIT_MS to its migration Job (within migrations.activeDeadlineSeconds).
  // A table lock held by another session's open transaction (a backup) is waited for as long, a try at a time.
  await runMigrations({ url: config.database.url, logger, waitForDatabaseMs: config.startupWaitMs, waitForLocksMs: config.startupWaitMs });
  await flushLogs();
  process.exit(0);
} catch (error) {
  logger.error('migrations failed', { error });
  process.stderr.write(`Migrations failed: ${(error as Error).message}\n`);
  await flushLogs();
  process.exit(1);
}
