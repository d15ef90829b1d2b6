import { config as loadDotenv } from 'dotenv';

/**
 * Reads the `.env` file into process.env (real environment variables win): `./.env`, or the file
 * DOTENV_CONFIG_PATH names (`/dev/null`: none). The tests' service processes run in the repository with
 * DOTENV_CONFIG_PATH=/dev/null, so a developer's `.env` never reaches them.
 */
export function loadDotenvFile(): void {
  loadDotenv({ quiet: true, path: process.env.DOTENV_CONFIG_PATH || undefined });
}
