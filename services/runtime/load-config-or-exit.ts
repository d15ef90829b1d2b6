import { config as loadDotenv } from 'dotenv';
import { loadConfig, type Config } from '../shared/config/config.js';
import { writeStderrLine } from '../shared/logging/stderr-line.js';

/**
 * Reads `.env` (when present; real environment variables win) and validates the configuration. An invalid
 * value stops the process with one line naming the variable: the service never starts half-configured.
 */
export function loadConfigOrExit(overrides: Partial<NodeJS.ProcessEnv> = {}): Config {
  loadDotenv({ quiet: true });
  try {
    return loadConfig({ ...process.env, ...overrides });
  } catch (error) {
    writeStderrLine((error as Error).message);
    process.exit(78); // EX_CONFIG
  }
}
