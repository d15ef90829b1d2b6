import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** What {@link evaluateInChildProcess} saw: the child's output, or that it was still running at the deadline. */
export interface ChildEvaluation {
  stdout: string;
  stderr: string;
  /** True when the child had not finished by the deadline (it was killed). */
  timedOut: boolean;
  code: number | null;
}

/**
 * Runs `code`, an ES module that may `await import('./services/….ts')` (tsx compiles them; paths are from the
 * repository root), in a Node process of its own, killing it at `deadlineMs`. For code that, when the thing under
 * test is broken, blocks its event loop for good (a backtracking regular expression): the test then fails by the
 * deadline, while jest's own event loop stays free to report it. `nodeArguments` go to node before the rest (e.g. a
 * heap limit, `--max-old-space-size=256`, for code that, when broken, takes memory without bound).
 */
export async function evaluateInChildProcess(code: string, deadlineMs: number, nodeArguments: readonly string[] = []): Promise<ChildEvaluation> {
  const child = spawn(process.execPath, [...nodeArguments, '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, deadlineMs);
  try {
    const [exitCode] = (await once(child, 'exit')) as [number | null];
    return { stdout, stderr, timedOut, code: exitCode };
  } finally {
    clearTimeout(timer);
  }
}
