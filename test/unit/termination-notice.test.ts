import { describe, expect, it } from '@jest/globals';
import { TerminationNotice } from '../../services/shared/health/termination-notice.js';

describe('TerminationNotice', () => {
  it('is inactive until announced, active for the announced time, then lapses', () => {
    let now = 1_000;
    const notice = new TerminationNotice(() => now);
    expect(notice.isActive()).toBe(false);
    notice.announce(5_000);
    expect(notice.isActive()).toBe(true);
    now += 4_999;
    expect(notice.isActive()).toBe(true);
    now += 1;
    expect(notice.isActive()).toBe(false);
  });

  it('is extended by a later announcement, never shortened', () => {
    let now = 0;
    const notice = new TerminationNotice(() => now);
    notice.announce(10_000);
    now = 2_000;
    notice.announce(1_000);
    now = 9_000;
    expect(notice.isActive()).toBe(true);
    notice.announce(5_000);
    now = 13_000;
    expect(notice.isActive()).toBe(true);
    now = 14_000;
    expect(notice.isActive()).toBe(false);
  });
});
