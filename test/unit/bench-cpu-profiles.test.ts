import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { collectCpuProfiles, cpuProfileStaging } from '../../scripts/bench/cpu-profiles.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bench-profiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The functions a profile sampled or saw called, by name. */
function functionNames(file: string): Set<string> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: { callFrame: { functionName: string } }[] };
  return new Set(profile.nodes.map((node) => node.callFrame.functionName));
}

describe('bench --cpu-prof with a second thread (module hooks when tracing is on)', () => {
  it("keeps the main thread's profile under the role's name and the other thread's apart", () => {
    const stamp = Date.now();
    // A real process with a worker thread, as the service has with its loader hooks: both write a profile.
    const script = `
      const { Worker } = require('node:worker_threads');
      function mainThreadWork() { let x = 0; for (let i = 0; i < 2e6; i++) x += i; return x; }
      mainThreadWork();
      new Worker('function workerThreadWork() { let x = 0; for (let i = 0; i < 2e6; i++) x += i; return x; } workerThreadWork();', { eval: true });`;
    const run = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${cpuProfileStaging(dir, 'ingress', stamp)}`, '-e', script], { encoding: 'utf8' });
    expect(run.status).toBe(0);

    const main = collectCpuProfiles(dir, 'ingress', stamp);
    expect(main).toBe(path.join(dir, `ingress-${stamp}.cpuprofile`));
    expect(functionNames(main!).has('mainThreadWork')).toBe(true);
    expect(functionNames(main!).has('workerThreadWork')).toBe(false);

    const others = readdirSync(path.join(dir, 'threads'));
    expect(others).toHaveLength(1);
    expect(others[0]).toMatch(new RegExp(`^ingress-${stamp}-thread\\d+\\.cpuprofile$`));
    expect(functionNames(path.join(dir, 'threads', others[0]!)).has('workerThreadWork')).toBe(true);
    // Only the named profiles are left: the staging directory is gone.
    expect(readdirSync(dir).sort()).toEqual([`ingress-${stamp}.cpuprofile`, 'threads']);
  });

  it('returns undefined when the process wrote no profile (killed before it could)', () => {
    expect(collectCpuProfiles(dir, 'worker', 1)).toBeUndefined();
  });
});
