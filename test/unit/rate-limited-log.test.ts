import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { RateLimitedLog } from '../../services/shared/logging/rate-limited-log.js';

describe('RateLimitedLog', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('writes the first occurrence at once, then one summary per interval with how many it stands for', () => {
    jest.useFakeTimers({ now: 0 });
    const lines: Record<string, unknown>[] = [];
    const log = new RateLimitedLog((fields) => lines.push(fields), 60_000);
    for (let i = 1; i <= 1000; i++) log.note({ n: i });
    expect(lines).toEqual([{ n: 1, count: 1 }]);

    // The summary comes when the interval ends, even if nothing happens after it.
    jest.advanceTimersByTime(60_000);
    expect(lines).toEqual([{ n: 1, count: 1 }, { n: 1000, count: 999, intervalSeconds: 60 }]);

    // A run that goes on: still one line per interval.
    log.note({ n: 1001 });
    log.note({ n: 1002 });
    expect(lines).toHaveLength(2);
    jest.advanceTimersByTime(60_000);
    expect(lines.at(-1)).toEqual({ n: 1002, count: 2, intervalSeconds: 60 });

    // Quiet for an interval: the next occurrence is written at once again.
    jest.advanceTimersByTime(60_000);
    log.note({ n: 1003 });
    expect(lines.at(-1)).toEqual({ n: 1003, count: 1 });
    expect(lines).toHaveLength(4);
  });
});
