import { config as loadDotenv } from 'dotenv';

/**
 * Reads the `.env` file into process.env (real environment variables win): `./.env`, or the file
 * DOTENV_CONFIG_PATH names (`/dev/null`: none). The tests' service processes run in the repository with
 * DOTENV_CONFIG_PATH=/dev/null, so a developer's `.env` never reaches them.
 *
 * Returns the one line that stops the start (as an invalid variable's, `Invalid configuration: …`) when the file
 * DOTENV_CONFIG_PATH names cannot be read: a misspelt path used to be skipped without a word, and the service
 * started on the defaults (a local PostgreSQL and Redis, no providers) instead of the settings it was pointed at.
 * A missing `./.env` is no problem: it is optional. A string, not a ConfigError: the tracing preload calls this
 * with nothing else loaded.
 */
export function loadDotenvFile(): string | undefined {
  const path = process.env.DOTENV_CONFIG_PATH || undefined;
  const { error } = loadDotenv({ quiet: true, path });
  if (path === undefined || error === undefined) return undefined;
  const code = (error as NodeJS.ErrnoException).code ?? error.message;
  return `Invalid configuration: DOTENV_CONFIG_PATH: cannot read ${path} (${code}): name a readable file, /dev/null to read none, or unset it to read ./.env when present`;
}
