import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs `code` (an ES module body with `createLogger` in scope) in its own process; returns its stdout lines. */
function run(code: string): string[] {
  const script = `import { createLogger } from './services/shared/logging/logger.ts';\n${code}`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info' },
    timeout: 60_000,
  });
  expect(result.stderr).not.toContain('Error');
  return result.stdout.split('\n').filter(Boolean);
}

describe('log lines are written in batches, and none is lost', () => {
  it('writes every line, in order, when the process ends normally', () => {
    const lines = run(`const log = createLogger('t'); for (let i = 0; i < 500; i++) log.info('line', { i });`);
    expect(lines.map((line) => JSON.parse(line).i)).toEqual([...Array(500).keys()]);
  });

  it('writes the lines of the last turn when the process exits at once (process.exit right after logging)', () => {
    const lines = run(`const log = createLogger('t'); log.info('first'); log.error('last words', { code: 7 }); process.exit(3);`);
    expect(lines.map((line) => JSON.parse(line).message)).toEqual(['first', 'last words']);
  });
});
