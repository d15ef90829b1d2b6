/**
 * Every suite of this folder that needs Prometheus's binaries, run by jest on a machine without them
 * (PROMETHEUS_BIN_DIR set to an empty directory, so /usr/bin's copies are not found). Under REQUIRE_PROMETHEUS=1, as
 * CI sets it, each must fail on a test naming what is missing: a CI machine without the package must not go green by
 * skipping the alert and query checks. Without it, as on a developer's machine, each must skip with the reason in the
 * skipped test's title and fail nothing.
 *
 * The suites are found by what they call (prometheusBinaries), so a new one is covered without being listed here.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const suites = readdirSync(here)
  .filter((name) => name.endsWith('.test.ts') && name !== path.basename(fileURLToPath(import.meta.url)))
  .filter((name) => /\bprometheusBinaries\(\[/.test(readFileSync(path.join(here, name), 'utf8')))
  .sort();

interface AssertionResult {
  title: string;
  status: string;
  failureMessages: string[];
}

const scratch = mkdtempSync(path.join(tmpdir(), 'prometheus-missing-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs jest on the suites with no Prometheus binaries to be found; each suite's test results by file name. */
function runWithoutPrometheus(required: boolean): Record<string, AssertionResult[]> {
  const emptyBinDir = mkdtempSync(path.join(scratch, 'bin-'));
  const output = path.join(scratch, `results-${required ? 'required' : 'optional'}.json`);
  const env: NodeJS.ProcessEnv = { ...process.env, PROMETHEUS_BIN_DIR: emptyBinDir };
  delete env.REQUIRE_PROMETHEUS;
  if (required) env.REQUIRE_PROMETHEUS = '1';
  const run = spawnSync(
    process.execPath,
    [
      '--experimental-vm-modules',
      path.join(root, 'node_modules/jest/bin/jest.js'),
      '--maxWorkers=1',
      '--ci',
      '--json',
      `--outputFile=${output}`,
      ...suites.map((name) => path.join(here, name)),
    ],
    { cwd: root, env, encoding: 'utf8' },
  );
  let report: { testResults: { name: string; assertionResults: AssertionResult[]; message: string }[] };
  try {
    report = JSON.parse(readFileSync(output, 'utf8'));
  } catch {
    throw new Error(`jest wrote no report (exit ${run.status}): ${run.stderr.slice(-4000)}`);
  }
  return Object.fromEntries(report.testResults.map((result) => [path.basename(result.name), result.assertionResults]));
}

describe('suites that need Prometheus, on a machine without it', () => {
  it('finds the suites to run', () => {
    expect(suites.length).toBeGreaterThan(10);
  });

  it('fail, each on a test naming the missing binary, under REQUIRE_PROMETHEUS=1', () => {
    const results = runWithoutPrometheus(true);
    const failsForMissingBinary = Object.fromEntries(
      suites.map((name) => [
        name,
        (results[name] ?? []).some(
          (test) => test.status === 'failed' && /REQUIRE_PROMETHEUS is set/.test(test.title) && /not found in PROMETHEUS_BIN_DIR/.test(test.failureMessages.join('\n')),
        ),
      ]),
    );
    expect(failsForMissingBinary).toEqual(Object.fromEntries(suites.map((name) => [name, true])));
  }, 600_000);

  it('skip with the reason, failing nothing, without REQUIRE_PROMETHEUS', () => {
    const results = runWithoutPrometheus(false);
    const outcome = Object.fromEntries(
      suites.map((name) => {
        const tests = results[name] ?? [];
        return [
          name,
          {
            failed: tests.filter((test) => test.status !== 'passed' && test.status !== 'pending').map((test) => test.title),
            skippedWithReason: tests.some((test) => test.status === 'pending' && /\(skipped: .*not found in PROMETHEUS_BIN_DIR/.test(test.title)),
          },
        ];
      }),
    );
    expect(outcome).toEqual(Object.fromEntries(suites.map((name) => [name, { failed: [], skippedWithReason: true }])));
  }, 600_000);
});
