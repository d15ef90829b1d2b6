import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

/** The image the Dockerfile builds last (the one deployed) runs as a non-root user, with node as PID 1. */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dockerfilePath = path.join(root, 'Dockerfile');

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions of a Dockerfile: comments and blank lines dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue; // comments inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const [keyword, ...rest] = full.split(/\s+/);
    instructions.push({ keyword: keyword!.toUpperCase(), args: rest.join(' ') });
  }
  return instructions;
}

/** The instructions of the last stage (from its FROM on). */
function finalStage(instructions: Instruction[]): Instruction[] {
  const lastFrom = instructions.map((instruction) => instruction.keyword).lastIndexOf('FROM');
  return lastFrom < 0 ? [] : instructions.slice(lastFrom);
}

const isRoot = (id: string | undefined) => id === undefined || id === '' || id === 'root' || id === '0';

describe('Dockerfile', () => {
  it('exists at the repository root', () => {
    expect(existsSync(dockerfilePath)).toBe(true);
  });

  it('runs the final stage as a non-root user (a USER that is neither root nor uid/gid 0)', () => {
    const stage = finalStage(parseDockerfile(readFileSync(dockerfilePath, 'utf8')));
    expect(stage[0]?.keyword).toBe('FROM');
    const users = stage.filter((instruction) => instruction.keyword === 'USER');
    expect(users.length).toBeGreaterThan(0);
    // The last USER wins (a later `USER root` would undo an earlier non-root one).
    const [user, group] = users.at(-1)!.args.split(':');
    expect(isRoot(user)).toBe(false);
    if (group !== undefined) expect(isRoot(group)).toBe(false);
  });

  it('starts node in exec form, so SIGTERM reaches the service (graceful drain)', () => {
    const stage = finalStage(parseDockerfile(readFileSync(dockerfilePath, 'utf8')));
    const entrypoint = stage.filter((instruction) => instruction.keyword === 'ENTRYPOINT').at(-1);
    const cmd = stage.filter((instruction) => instruction.keyword === 'CMD').at(-1);
    const startsWith = entrypoint ?? cmd;
    expect(startsWith).toBeDefined();
    const argv = JSON.parse(startsWith!.args) as string[];
    expect(argv[0]).toMatch(/(^|\/)node$/);
  });

  it('parser sanity: a later USER root in the final stage would be caught', () => {
    const stage = finalStage(parseDockerfile('FROM a AS build\nUSER 1000\nFROM b\n# comment\nUSER 65532\nRUN echo \\\n  hi\nUSER root:root\n'));
    const last = stage.filter((instruction) => instruction.keyword === 'USER').at(-1)!;
    expect(isRoot(last.args.split(':')[0])).toBe(true);
    expect(stage.find((instruction) => instruction.keyword === 'RUN')?.args).toBe('echo hi');
  });
});
