import path from 'node:path';
import { expect, it } from '@jest/globals';
import type { PrometheusBinaries } from './prometheus-binaries.js';

/**
 * What a suite that needs Prometheus's binaries does when one is missing. Under REQUIRE_PROMETHEUS (CI sets it) it
 * declares one failing test naming what is missing, so that a CI machine without the package cannot go green by
 * skipping; elsewhere it warns and declares one skipped test whose title says why, so that a developer without the
 * package still runs everything else.
 *
 * Call it first in the suite's describe, and return from the describe when it returns true (it then declared that
 * one test, and the suite's own tests must not be declared):
 *   if (skipOrFailWithoutPrometheus(binaries, 'promtool tests')) return;
 */
export function skipOrFailWithoutPrometheus(binaries: PrometheusBinaries, skippedTests: string): boolean {
  const { missing } = binaries;
  if (!missing) return false;
  if (binaries.required) {
    it(`has ${binaries.needed.join(' and ')} (REQUIRE_PROMETHEUS is set)`, () => {
      throw new Error(missing);
    });
  } else {
    const file = path.basename(expect.getState().testPath ?? 'this test file');
    // eslint-disable-next-line no-console
    console.warn(`${file} skipped: ${missing}. Set REQUIRE_PROMETHEUS=1 to make this a failure.`);
    it.skip(`${skippedTests} (skipped: ${missing})`, () => undefined);
  }
  return true;
}
