import type { Page } from 'playwright-core';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * The overview's "Queue depth, peak per minute" chart drew, for each minute, the peak of waiting jobs plus the peak of
 * delayed jobs plus the peak of active jobs, each the largest of that minute's samples on its own. A job counted in
 * one state at one sample and in another at the next counted twice: here 4 jobs waiting, then the same number of jobs
 * retrying (delayed) later in the minute, the queue never deeper than 4, and the chart said 8. The chart now draws the
 * largest depth one sample saw.
 */

const TOKEN = 'adm_overview_queue_depth_5b0d';
const MINUTE = 60_000;
jest.setTimeout(180_000);

let fixture: ConsoleFixture;
let queue: Queue;

/** The "Queue now" tile's total and its breakdown, as shown. */
const queueNow = async (page: Page) => ((await page.locator('.tile', { hasText: 'Queue now' }).locator('dd').textContent()) ?? '').trim();
const depthSummary = async (page: Page) => (await page.getByRole('img', { name: /^Queue depth, peak per minute/ }).getAttribute('aria-label')) ?? '';

describeBrowser('the overview queue depth chart', () => {
  beforeAll(async () => {
    // Ingress only: no worker takes the jobs, so their states are the test's.
    fixture = await startConsoleFixture({ token: TOKEN, service: 'in-process', env: { SERVICE_ROLE: 'ingress' } });
    queue = new Queue('webhook-events', { connection: { url: fixture.ns.redisUrl }, prefix: fixture.ns.prefix });
  }, 120_000);

  afterAll(async () => {
    await queue?.close();
    await fixture?.close();
  });

  it("draws a minute's peak as the deepest the queue was, not the sum of each state's peak", async () => {
    const page = await fixture.signedInPage();
    // Both samples below must fall in one minute: with under 40 s of this one left, start in the next.
    if (MINUTE - (Date.now() % MINUTE) < 40_000) {
      const next = Math.floor(Date.now() / MINUTE) + 1;
      await waitFor('the next minute', () => Math.floor(Date.now() / MINUTE) >= next, { timeoutMs: 45_000, intervalMs: 250 });
    }
    const minute = Math.floor(Date.now() / MINUTE);

    // 4 jobs waiting, sampled by the overview.
    await queue.addBulk(Array.from({ length: 4 }, (_, i) => ({ name: 'depth', data: {}, opts: { jobId: `depth-waiting-${i}` } })));
    await page.goto(`${fixture.baseUrl}/console#/overview?hours=1`);
    await waitFor('4 jobs waiting shown', async () => {
      await page.reload();
      return (await queueNow(page)).startsWith('44 waiting');
    }, { timeoutMs: 20_000, intervalMs: 1000 });

    // Then the same depth, as 4 retrying jobs and none waiting (answers are reused for 5 s: reloaded until it shows).
    await queue.drain();
    await queue.addBulk(Array.from({ length: 4 }, (_, i) => ({ name: 'depth', data: {}, opts: { jobId: `depth-delayed-${i}`, delay: 3_600_000 } })));
    await waitFor('4 jobs retrying shown', async () => {
      await page.reload();
      return (await queueNow(page)).startsWith('40 waiting · 0 active · 4 retrying');
    }, { timeoutMs: 20_000, intervalMs: 1000 });
    expect(Math.floor(Date.now() / MINUTE)).toBe(minute);

    // Fails without the fix: "… peak 8 …, latest 8."
    expect(await depthSummary(page)).toMatch(/peak 4 at .*, latest 4\.$/);
    await page.close();
  });
});
