import { loadConfig, type Config, type LoadConfigOptions } from '../shared/config/config.js';
import { loadDotenvFile } from '../shared/config/dotenv-file.js';
import { writeStderrLine } from '../shared/logging/stderr-line.js';

/**
 * Reads `.env` (when present, or the file DOTENV_CONFIG_PATH names; real environment variables win) and validates
 * the configuration. An invalid value stops the process with one line naming the variable: the service never starts
 * half-configured.
 */
export function loadConfigOrExit(overrides: Partial<NodeJS.ProcessEnv> = {}, options: LoadConfigOptions = {}): Config {
  const dotenvProblem = loadDotenvFile();
  if (dotenvProblem !== undefined) {
    writeStderrLine(dotenvProblem);
    process.exit(78); // EX_CONFIG
  }
  try {
    return loadConfig({ ...process.env, ...overrides }, options);
  } catch (error) {
    writeStderrLine((error as Error).message);
    process.exit(78); // EX_CONFIG
  }
}
