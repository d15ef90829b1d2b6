/**
 * Where `--cpu-prof` leaves a service process's profiles, and their names once it has exited.
 *
 * A process writes one profile per thread. With tracing on, the ingress and worker have a second thread: the module
 * loader hooks that `module.register` runs off the main thread (instrumentation.js). A fixed `--cpu-prof-name` makes
 * both threads write the same file, and the loader thread's (idle, 97% of it) replaced the main thread's. So each
 * process writes under Node's own names (`CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile`) into a directory
 * of its own, and then the main thread's profile becomes `<role>-<stamp>.cpuprofile` (what `profile-summary.ts` is
 * given) and any other thread's goes to `threads/<role>-<stamp>-thread<id>.cpuprofile`.
 */
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

/** Node's default profile name: the thread id is the second field after the pid. */
const NODE_PROFILE_NAME = /^CPU\.\d+\.\d+\.\d+\.(\d+)\.\d+\.cpuprofile$/;

/** The directory a process's threads write their profiles to (`--cpu-prof-dir`), to be passed to {@link collectCpuProfiles}. */
export function cpuProfileStaging(dir: string, role: string, stamp: number): string {
  return path.join(dir, `.${role}-${stamp}`);
}

/**
 * After the process exited: the main thread's profile as `<dir>/<role>-<stamp>.cpuprofile`, the others under
 * `<dir>/threads/`. Returns the main thread's path (undefined when the process wrote none, e.g. killed).
 */
export function collectCpuProfiles(dir: string, role: string, stamp: number): string | undefined {
  const staging = cpuProfileStaging(dir, role, stamp);
  let main: string | undefined;
  let names: string[];
  try {
    names = readdirSync(staging);
  } catch {
    return undefined;
  }
  for (const name of names) {
    const threadId = NODE_PROFILE_NAME.exec(name)?.[1];
    if (threadId === undefined) continue;
    if (threadId === '0') {
      main = path.join(dir, `${role}-${stamp}.cpuprofile`);
      renameSync(path.join(staging, name), main);
    } else {
      mkdirSync(path.join(dir, 'threads'), { recursive: true });
      renameSync(path.join(staging, name), path.join(dir, 'threads', `${role}-${stamp}-thread${threadId}.cpuprofile`));
    }
  }
  rmSync(staging, { recursive: true, force: true });
  return main;
}
