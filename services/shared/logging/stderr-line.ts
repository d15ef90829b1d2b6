import { redactSecretValuesIn } from './logger.js';

/**
 * Writes one plain line to stderr (what stops a start: a configuration mistake, a part that could not be built), with
 * every registered secret redacted as in the JSON log. These lines bypass winston, and an error's message can quote
 * what it failed on (a URL with its password, a header value).
 */
export function writeStderrLine(line: string): void {
  process.stderr.write(`${redactSecretValuesIn(line)}\n`);
}
