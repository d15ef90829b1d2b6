/**
 * What the service's logger writes on stdout, as JSON lines: the fields of each line, whichever way it was formatted
 * (JSON.stringify for an ordinary line; winston's json format for what JSON.stringify refuses), and nothing for a level
 * below LOG_LEVEL. The logger hands lines to its transport directly (logger.ts); these are the cases that path keeps.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

async function rawLinesAt(level: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(here, 'support/log-lines-script.ts')], {
    cwd: root,
    env: { PATH: process.env.PATH, LOG_LEVEL: level },
  });
  return stdout.trim().split('\n');
}

async function linesAt(level: string): Promise<Record<string, unknown>[]> {
  return (await rawLinesAt(level)).map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('log lines', () => {
  it('writes each line as one JSON object with its fields, context and errors, and no line below LOG_LEVEL', async () => {
    const lines = await linesAt('info');
    expect(lines.map((line) => line.message)).toEqual(['plain', 'failed', 'circular', 'bigint', 'in a request', 'after the rest']);
    const common = { service: 'event-driven-integration-service', scope: 'lines-test' };
    for (const line of lines) expect(line).toMatchObject({ ...common, timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    const [plain, failed, circular, bigint, inRequest, after] = lines;
    expect(plain).toMatchObject({ level: 'info', eventId: 'evt-1', statusCode: 202, nested: { a: 1, b: 2 } });
    expect(failed).toMatchObject({
      level: 'warn',
      error: { name: 'Error', message: 'outer', stack: expect.stringContaining('outer'), cause: { message: 'root cause', code: 'ECONNRESET' } },
      token: '[REDACTED]',
    });
    // What JSON.stringify refuses is still written, by winston's json format.
    // (The key redaction copies nested objects a few levels deep before the cycle is met.)
    expect(circular).toMatchObject({ level: 'info', circular: { name: 'loop', self: { name: 'loop' } } });
    expect(JSON.stringify(circular)).toContain('"[Circular]"');
    expect(bigint).toMatchObject({ level: 'info', big: '12345678901234567890' });
    expect(inRequest).toMatchObject({ correlationId: 'corr-1', eventId: 'evt-ctx', provider: 'stripe', traceId: 'a'.repeat(32) });
    expect(after).toMatchObject({ level: 'info' });
  });

  it('starts an ordinary line with its level, message and time, for the people reading it', async () => {
    const [plain] = await rawLinesAt('info');
    expect(Object.keys(JSON.parse(plain!) as object).slice(0, 3)).toEqual(['level', 'message', 'timestamp']);
  });

  it('writes the lines of a lower level once LOG_LEVEL enables it', async () => {
    const lines = await linesAt('debug');
    expect(lines[0]).toMatchObject({ level: 'debug', message: 'debug line', n: 1 });
    expect(lines).toHaveLength(7);
  });
});
