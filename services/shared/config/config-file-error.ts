/**
 * A problem in a configuration file (ROUTES_FILE, PROVIDERS_FILE): it cannot be read, is not valid YAML, or holds a
 * value the service cannot use. Its message is the whole story, one line naming the file, where in it and what is
 * wrong; the start stops with that line and logs no stack trace, which would only point into the file's parser.
 */
export class ConfigFileError extends Error {
  readonly code = 'INVALID_CONFIG_FILE';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigFileError';
  }
}
