import { spawn } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { schedulingPerEvent, threadScheduling } from '../../scripts/bench/proc-stats.js';

/** Polls `read` until `accept` takes its value, or fails at the deadline with the last value. */
async function eventually<T>(read: () => T, accept: (value: T) => boolean, deadlineMs = 20_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = read();
    if (accept(value) || Date.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("bench's scheduling counters (/proc/<pid>/schedstat and status)", () => {
  it("counts a process's main thread going to sleep and being woken", async () => {
    // A real process whose event loop, once told to go, sleeps and wakes 20 times (a timer each).
    const child = spawn(process.execPath, ['-e', `let n = 0; const tick = () => { if (++n < 20) setTimeout(tick, 5); else console.log('done'); }; console.log('ready'); process.stdin.once('data', tick);`], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    try {
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await eventually(() => output, (text) => text.includes('ready'));
      const before = threadScheduling([child.pid!]);
      expect(before).toBeDefined();
      child.stdin.write('go\n');
      await eventually(() => output, (text) => text.includes('done'));
      expect(output).toContain('done');
      const after = threadScheduling([child.pid!])!;
      // Every timer the loop slept for ended in a wake-up of the main thread (and more: start-up's own waits).
      expect(after.wakeups - before!.wakeups).toBeGreaterThanOrEqual(19);
      expect(after.runQueueWaitNs).toBeGreaterThanOrEqual(before!.runQueueWaitNs);
      const perEvent = schedulingPerEvent(before, after, 19)!;
      expect(perEvent.wakeups).toBeGreaterThanOrEqual(1);
    } finally {
      child.kill();
    }
  });

  it('is undefined for pids that are gone, and per event only with events', () => {
    expect(threadScheduling([2 ** 30])).toBeUndefined();
    const reading = { wakeups: 10, preemptions: 4, runQueueWaitNs: 3_000_000 };
    expect(schedulingPerEvent(reading, { wakeups: 30, preemptions: 6, runQueueWaitNs: 5_000_000 }, 10)).toEqual({ wakeups: 2, preemptions: 0.2, runQueueWaitUs: 200 });
    expect(schedulingPerEvent(reading, reading, 0)).toBeUndefined();
    expect(schedulingPerEvent(undefined, reading, 5)).toBeUndefined();
  });
});
