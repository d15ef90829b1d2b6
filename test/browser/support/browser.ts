import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from '@jest/globals';
import { chromium, type Browser } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Debian's chromium (CI installs it with apt); never a downloaded browser. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** SKIP_BROWSER_TESTS=1 skips the browser tests; without it a missing chromium fails them, saying why. */
export const skipBrowserTests = process.env.SKIP_BROWSER_TESTS === '1';

/** `describe` for a browser test: skipped under SKIP_BROWSER_TESTS=1. */
export const describeBrowser = skipBrowserTests ? describe.skip : describe;

/** Where the tests leave a screenshot of each view (CONSOLE_SCREENSHOTS_DIR, else a folder in the temp dir). */
export const screenshotsDir = process.env.CONSOLE_SCREENSHOTS_DIR ?? path.join(tmpdir(), 'event-console-screenshots');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `The browser tests need Debian's chromium at ${CHROMIUM_PATH} (apt-get install chromium; CHROMIUM_PATH to point elsewhere). ` +
        'Set SKIP_BROWSER_TESTS=1 to skip them where no browser can be installed.',
    );
  }
  mkdirSync(screenshotsDir, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Builds the console as `npm run build` does, into dist/console, where the service serves it from. */
export function buildConsole(): void {
  execFileSync(process.execPath, [path.join(root, 'scripts/build-console.mjs'), '--quiet'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
}
