/** `npm run migrate`: creates the database when missing, then applies pending migrations. */
import { configureLogging, createLogger, flushLogs } from './shared/logging/logger.js';
import { runMigrations } from './shared/database/run-migrations.js';
import { loadConfigOrExit } from './runtime/load-config-or-exit.js';

const config = loadConfigOrExit();
configureLogging({ level: config.logLevel, role: 'migrate' });
const logger = createLogger('migrations');
try {
  // A migration Job may start before its database does: wait up to a minute for it.
  await runMigrations({ url: config.database.url, logger, waitForDatabaseMs: 60_000 });
  await flushLogs();
  process.exit(0);
} catch (error) {
  logger.error('migrations failed', { error });
  process.stderr.write(`Migrations failed: ${(error as Error).message}\n`);
  await flushLogs();
  process.exit(1);
}
