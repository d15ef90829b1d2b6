import { afterAll, beforeAll, expect, it } from '@jest/globals';
import winston from 'winston';
import { Overview } from '../../services/admin/overview.js';
import { createAdminStoreBed, type AdminStoreBed } from '../support/event-queue-bed.js';

/**
 * The overview's queue history has a point per minute, the current minute last. The background sampler takes one
 * every 15 s; a view built early in a minute reused the sampler's last sample when it was under 60 s old, which was
 * of the minute before, and the current minute's point was empty (null): a gap at the chart's right edge for the first
 * seconds of every minute (and a failed admin-console-api test on a loaded machine).
 */

const MINUTE = 60_000;
let bed: AdminStoreBed | undefined;

beforeAll(async () => {
  bed = await createAdminStoreBed(winston.createLogger({ silent: true }), 'overview-current-minute-test');
});

afterAll(async () => {
  await bed?.close();
});

it("has the current minute's queue point from the first moment of a minute, the last sample being of the minute before", async () => {
  const { dataSource, queue } = bed!;
  // One sample now, and (an hour's interval) none after it but the view's own.
  const overview = new Overview({ dataSource, queue, logger: winston.createLogger({ silent: true }), sampleIntervalMs: 3_600_000, cacheMs: 0 }).start();
  try {
    await overview.view(1); // the start's sample is in
    // Wait for the next minute to begin: the sample above is then of the minute before, and under 60 s old.
    const minuteOfStart = Math.floor(Date.now() / MINUTE);
    while (Math.floor(Date.now() / MINUTE) === minuteOfStart) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, MINUTE - (Date.now() % MINUTE) + 5)));
    }
    const view = await overview.view(1);
    expect(view.queue.waiting.at(-1)).toEqual(expect.any(Number));
    expect(view.queue.active.at(-1)).toEqual(expect.any(Number));
    expect(view.queue.delayed.at(-1)).toEqual(expect.any(Number));
  } finally {
    overview.close();
  }
}, 120_000);
