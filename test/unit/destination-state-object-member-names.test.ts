/**
 * A destination may be named like a member every JavaScript object has (`constructor`, `valueOf`, `toString`: names
 * are `[A-Za-z0-9_.-]{1,64}`). The admin API's state of such a destination was read from the recorded pauses as an
 * object's own fields and inherited ones alike: never paused, it showed `pausedAt` as Object.prototype's function
 * (which JSON leaves out, so the field was missing), and, with Redis unreadable, `paused: true`.
 */
import { describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import type { Queue } from 'bullmq';
import { DestinationControl } from '../../services/admin/destination-control.js';
import type { DestinationPauses } from '../../services/shared/destinations/destination-pauses.js';
import type { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { createLogger } from '../../services/shared/logging/logger.js';

const names = ['constructor', 'valueOf', 'billing'];

function control(redisAnswers: boolean): DestinationControl {
  const state = {
    read: async (asked: string[]) => {
      if (!redisAnswers) throw new Error('Redis unreachable');
      return { now: Date.now(), views: asked.map((name) => ({ name, paused: false, circuit: null })) };
    },
  } as unknown as DestinationStateStore;
  const pauses = { snapshot: async () => ({ version: 1, names: [], pausedAt: {} }) } as unknown as DestinationPauses;
  const pool = { query: async () => ({ rows: [] }) } as unknown as Pool;
  return new DestinationControl({
    state,
    pauses,
    pool,
    queue: {} as Queue,
    routes: { destinations: Object.fromEntries(names.map((name) => [name, {}])) },
    logger: createLogger('test'),
  });
}

describe('the state of a destination named like an object member', () => {
  it.each([true, false])('is not paused, and has no pausedAt, when none was recorded (Redis answering: %s)', async (redisAnswers) => {
    const { states } = await control(redisAnswers).overview(names);
    for (const name of names) {
      const state = states.get(name)!;
      expect({ name, paused: state.paused, pausedAt: state.pausedAt }).toEqual({ name, paused: false, pausedAt: null });
    }
  });
});
