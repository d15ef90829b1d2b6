import type { Page } from 'playwright-core';

/**
 * Holds the page's handling of URL fragment changes until the test lets it go, so that a test can act in the moment
 * between a navigation (`location.hash` already changed) and the console's rendering of it, deterministically: on a
 * loaded machine that moment is long, and what users did in it was lost.
 *
 * An init script (it runs before the console's own scripts) puts a capturing `hashchange` listener on the window
 * first: while held, it stops each event before the console's router sees it, and `release()` then dispatches one,
 * after which the router reads `location.hash` as it is by then, every change made meanwhile in it.
 */
export interface HeldHashchange {
  /** From now on, `hashchange` events wait. */
  hold(): Promise<void>;
  /** How many `hashchange` events are waiting. */
  waiting(): Promise<number>;
  /** Stops holding, and hands the router the change it waited for (if any). */
  release(): Promise<void>;
}

const INIT_SCRIPT = `(() => {
  let holding = false;
  let waiting = 0;
  window.addEventListener('hashchange', (event) => {
    if (!holding) return;
    waiting += 1;
    event.stopImmediatePropagation();
  }, { capture: true });
  window.__heldHashchange = {
    hold() { holding = true; },
    waiting() { return waiting; },
    release() {
      holding = false;
      const had = waiting;
      waiting = 0;
      if (had > 0) window.dispatchEvent(new HashChangeEvent('hashchange'));
    },
  };
})();`;

/** Installs the hold on `page` (before its next navigation: call it before `goto`). */
export async function holdableHashchange(page: Page): Promise<HeldHashchange> {
  await page.addInitScript(INIT_SCRIPT);
  return {
    hold: () => page.evaluate('window.__heldHashchange.hold()'),
    waiting: () => page.evaluate<number>('window.__heldHashchange.waiting()'),
    release: () => page.evaluate('window.__heldHashchange.release()'),
  };
}
