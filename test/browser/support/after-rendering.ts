import type { Page } from 'playwright-core';

/**
 * Resolves once the page has rendered what it had pending and run the effects that rendering scheduled: Preact renders
 * in a microtask, and runs effects after the next frame (a requestAnimationFrame, then a task). Two frames and a task
 * on, both are done, however slow the machine: what a fixed wait (300 ms) only hoped for.
 */
export const afterRendering = (page: Page): Promise<void> =>
  page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(resolve))))');
