import { readdirSync, readFileSync } from 'node:fs';

/** Resident set size of `pid` in MiB (VmRSS), or undefined when the process is gone or /proc is missing. */
export function rssMb(pid: number): number | undefined {
  return statusField(pid, 'VmRSS');
}

/** Peak resident set size of `pid` since it started (VmHWM), in MiB. */
export function peakRssMb(pid: number): number | undefined {
  return statusField(pid, 'VmHWM');
}

function statusField(pid: number, field: string): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples the RSS of named processes every `intervalMs`; keeps the largest value seen per name. */
export class RssSampler {
  readonly peaks: Record<string, number> = {};
  private readonly pids = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  track(name: string, pid: number | undefined): void {
    if (pid !== undefined) this.pids.set(name, pid);
  }

  start(intervalMs = 250): void {
    this.timer ??= setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /** Takes one sample now, and folds in the kernel's high-water mark (catches spikes between samples). */
  sample(includeHighWaterMark = false): void {
    for (const [name, pid] of this.pids) {
      const values = [rssMb(pid), includeHighWaterMark ? peakRssMb(pid) : undefined].filter((v): v is number => v !== undefined);
      for (const value of values) this.peaks[name] = Math.max(this.peaks[name] ?? 0, value);
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** CPU time (clock ticks) of every process on the machine, plus the machine's total and idle ticks. */
export interface CpuSnapshot {
  at: number;
  total: number;
  idle: number;
  /** Interrupt and softirq time (the loopback network stack runs here, charged to no process). */
  interrupts: number;
  /** By pid: command name, CPU ticks (user + system), system ticks, and start time (tells a reused pid apart). */
  processes: Map<number, { comm: string; ticks: number; systemTicks: number; start: number }>;
}

export function cpuSnapshot(): CpuSnapshot | undefined {
  try {
    const cpuLine = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const fields = cpuLine.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((sum, value) => sum + value, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const interrupts = (fields[5] ?? 0) + (fields[6] ?? 0);
    const processes = new Map<number, { comm: string; ticks: number; systemTicks: number; start: number }>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        const comm = stat.slice(stat.indexOf('(') + 1, close);
        const rest = stat.slice(close + 2).split(' ');
        // Fields after the comm: state(0) … utime(11) stime(12) cutime(13) cstime(14) … starttime(19).
        processes.set(Number(entry), { comm, ticks: Number(rest[11]) + Number(rest[12]), systemTicks: Number(rest[12]), start: Number(rest[19]) });
      } catch {
        // exited while we read
      }
    }
    return { at: Date.now(), total, idle, interrupts, processes };
  } catch {
    return undefined;
  }
}

/**
 * CPU used between two snapshots, in cores (1.0 = one core busy for the whole interval), grouped: the named pids
 * first (a name may stand for several pids), then by command name for `postgres` (every other PostgreSQL process:
 * other databases' backends, WAL writer, checkpointer, autovacuum) and `redis-server`, everything else as `other`.
 */
export function cpuUsage(before: CpuSnapshot, after: CpuSnapshot, named: Record<string, number | number[] | undefined>): Record<string, number> {
  const elapsedTicks = after.total - before.total; // summed over every core, in USER_HZ (100/s)
  const wallTicks = Math.max(1, (after.at - before.at) / 10);
  const cores = elapsedTicks / wallTicks;
  const byPid = new Map<number, string>();
  for (const [name, pids] of Object.entries(named)) for (const pid of [pids ?? []].flat()) byPid.set(pid, name);
  const usage: Record<string, number> = {};
  const systemUsage: Record<string, number> = {};
  for (const [pid, now] of after.processes) {
    const then = before.processes.get(pid);
    // The same process (a kernel worker's name changes with its work item, and exec changes any name).
    const same = then !== undefined && then.start === now.start;
    const ticks = now.ticks - (same ? then.ticks : 0);
    if (ticks <= 0) continue;
    const group = byPid.get(pid) ?? (now.comm === 'postgres' || now.comm === 'redis-server' ? now.comm : 'other');
    usage[group] = (usage[group] ?? 0) + ticks;
    systemUsage[group] = (systemUsage[group] ?? 0) + now.systemTicks - (same ? then.systemTicks : 0);
  }
  const result: Record<string, number> = {};
  for (const [group, ticks] of Object.entries(usage)) result[group] = Math.round((ticks / wallTicks) * 100) / 100;
  // The kernel's share (syscalls, loopback TCP) of each named process's CPU, 0..1.
  for (const name of Object.keys(named)) {
    if (usage[name]) result[`${name}SystemShare`] = Math.round(((systemUsage[name] ?? 0) / usage[name]!) * 100) / 100;
  }
  result.interrupts = Math.round(((after.interrupts - before.interrupts) / wallTicks) * 100) / 100;
  result.machineBusy = Math.round(((elapsedTicks - (after.idle - before.idle)) / wallTicks) * 100) / 100;
  result.machineCores = Math.round(cores * 10) / 10;
  return result;
}

/**
 * What the scheduler did with one thread: how often it went to sleep and was woken (voluntary context switches),
 * how often it was taken off a core it still wanted (involuntary), and how long it waited, runnable, for a core.
 */
export interface ThreadScheduling {
  wakeups: number;
  preemptions: number;
  /** Time runnable but not running (the second field of /proc/<pid>/schedstat), in ns. */
  runQueueWaitNs: number;
}

/**
 * The scheduling counters of the main thread of each pid (for a Node process, the event loop's thread: the one
 * whose wake-ups and waits every request goes through; V8's and libuv's helper threads are left out), summed.
 * Undefined when /proc has no schedstat (a kernel without CONFIG_SCHEDSTATS) or none of the pids is left.
 */
export function threadScheduling(pids: number[]): ThreadScheduling | undefined {
  const sum: ThreadScheduling = { wakeups: 0, preemptions: 0, runQueueWaitNs: 0 };
  let found = 0;
  for (const pid of pids) {
    try {
      const schedstat = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const voluntary = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(status);
      const involuntary = /^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status);
      if (schedstat.length < 2 || !voluntary || !involuntary) continue;
      sum.wakeups += Number(voluntary[1]);
      sum.preemptions += Number(involuntary[1]);
      sum.runQueueWaitNs += schedstat[1]!;
      found += 1;
    } catch {
      // exited, or no schedstat
    }
  }
  return found > 0 ? sum : undefined;
}

/** Scheduling per event between two readings of {@link threadScheduling}: wake-ups, preemptions, µs waited for a core. */
export function schedulingPerEvent(before: ThreadScheduling | undefined, after: ThreadScheduling | undefined, events: number): { wakeups: number; preemptions: number; runQueueWaitUs: number } | undefined {
  if (!before || !after || events <= 0) return undefined;
  const per = (value: number) => Math.round((value / events) * 100) / 100;
  return {
    wakeups: per(after.wakeups - before.wakeups),
    preemptions: per(after.preemptions - before.preemptions),
    runQueueWaitUs: Math.round((after.runQueueWaitNs - before.runQueueWaitNs) / 1000 / events),
  };
}
