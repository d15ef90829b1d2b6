import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { readChartRoleEnv } from '../../scripts/bench/chart-env.js';
import { DEFAULT_CHART_PATH, DEFAULT_SWEEP_STEPS, parseOptions, parseSweepSteps } from '../../scripts/bench/options.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('bench options', () => {
  it('defaults to the issue\'s load: 64 connections, 2 KB payloads, the worker running as deployed', () => {
    expect(parseOptions([], {})).toMatchObject({ durationSec: 20, connections: 64, payloadBytes: 2048, workerNice: 0, pauseWorker: false, skipBaseline: false });
  });

  it('reads flags over environment variables, and per-role environment', () => {
    const options = parseOptions(['--duration=5', '--pause-worker', '--worker-env=WORKER_CONCURRENCY=64', '--env=DATABASE_POOL_SIZE=8'], { BENCH_DURATION: '9' });
    expect(options).toMatchObject({ durationSec: 5, pauseWorker: true, workerEnv: { WORKER_CONCURRENCY: '64' }, serviceEnv: { DATABASE_POOL_SIZE: '8' } });
    expect(parseOptions([], { BENCH_PAUSE_WORKER: '1' }).pauseWorker).toBe(true);
    expect(parseOptions([], {}).codeDefaults).toBe(false);
    expect(parseOptions(['--code-defaults'], {}).codeDefaults).toBe(true);
    expect(parseOptions([], { BENCH_CODE_DEFAULTS: '1' }).codeDefaults).toBe(true);
  });

  it('refuses unknown options and bad numbers', () => {
    expect(() => parseOptions(['--pause-workers'], {})).toThrow(/unknown option/);
    expect(() => parseOptions(['--connections=0'], {})).toThrow(/connections/);
  });

  it('runs both baselines by default; --baseline / BENCH_BASELINE pick one; --skip-baseline runs none', () => {
    expect(parseOptions([], {})).toMatchObject({ baseline: 'both', skipBaseline: false });
    expect(parseOptions(['--baseline=node'], {})).toMatchObject({ baseline: 'node', skipBaseline: false });
    expect(parseOptions([], { BENCH_BASELINE: 'pgbench' }).baseline).toBe('pgbench');
    expect(parseOptions(['--baseline=node'], { BENCH_BASELINE: 'pgbench' }).baseline).toBe('node');
    expect(parseOptions(['--skip-baseline'], {})).toMatchObject({ baseline: 'none', skipBaseline: true });
    expect(parseOptions(['--baseline=pgbench'], { BENCH_SKIP_BASELINE: '1' })).toMatchObject({ baseline: 'none', skipBaseline: true });
    expect(parseOptions(['--baseline=none'], {}).skipBaseline).toBe(true);
    expect(() => parseOptions(['--baseline=psql'], {})).toThrow(/--baseline/);
  });

  it('--sweep: default steps, 8 s per step, the chart under docs/perf', () => {
    const options = parseOptions(['--sweep'], {});
    expect(options).toMatchObject({ sweep: true, sweepDurationSec: 8, sweepAligned: false, chartPath: DEFAULT_CHART_PATH });
    expect(options.sweepSteps).toEqual([0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 'max']);
    expect(DEFAULT_CHART_PATH).toBe('docs/perf/ingest-latency.svg');
    expect(parseOptions([], {}).sweep).toBe(false);
    // The defaults are copied, not shared.
    options.sweepSteps.pop();
    expect(DEFAULT_SWEEP_STEPS).toHaveLength(8);
  });

  it('--sweep-steps, --sweep-duration, --sweep-aligned and --chart, as flags or environment', () => {
    const options = parseOptions(['--sweep', '--sweep-steps=0.1, 50%,1,unlimited', '--sweep-duration=6', '--sweep-aligned', '--chart=/tmp/chart.svg'], {});
    expect(options).toMatchObject({ sweepSteps: [0.1, 0.5, 1, 'max'], sweepDurationSec: 6, sweepAligned: true, chartPath: '/tmp/chart.svg' });
    const fromEnv = parseOptions([], { BENCH_SWEEP: '1', BENCH_SWEEP_STEPS: '0.5,max', BENCH_SWEEP_DURATION: '4', BENCH_SWEEP_ALIGNED: 'true', BENCH_CHART: 'x.svg' });
    expect(fromEnv).toMatchObject({ sweep: true, sweepSteps: [0.5, 'max'], sweepDurationSec: 4, sweepAligned: true, chartPath: 'x.svg' });
    expect(parseOptions(['--sweep-duration=3'], { BENCH_SWEEP_DURATION: '9' }).sweepDurationSec).toBe(3);
  });

  it('refuses a sweep without a baseline to scale it, bad steps and an empty --chart', () => {
    expect(() => parseOptions(['--sweep', '--skip-baseline'], {})).toThrow(/--sweep/);
    expect(() => parseOptions(['--sweep', '--baseline=none'], {})).toThrow(/--sweep/);
    expect(() => parseOptions(['--sweep-steps=0.5,0'], {})).toThrow(/--sweep-steps/);
    expect(() => parseOptions(['--sweep-steps=fast'], {})).toThrow(/--sweep-steps/);
    expect(() => parseOptions(['--sweep-steps=,'], {})).toThrow(/--sweep-steps/);
    expect(() => parseOptions(['--sweep-duration=0'], {})).toThrow(/--sweep-duration/);
    expect(() => parseOptions(['--chart'], {})).toThrow(/--chart/);
    expect(parseSweepSteps('1.25,max')).toEqual([1.25, 'max']);
  });

  it("runs the roles with the chart's default settings (the worker's concurrency over the shared config)", () => {
    const env = readChartRoleEnv(root);
    expect(env.worker.WORKER_CONCURRENCY).toBe('128');
    expect(env.worker.DATABASE_POOL_SIZE).toBe(env.ingress.DATABASE_POOL_SIZE);
    expect(env.ingress.WORKER_CONCURRENCY).toBeUndefined();
    expect(Object.values({ ...env.ingress, ...env.worker }).every((value) => typeof value === 'string')).toBe(true);
  });
});

describe("the README's bench commands", () => {
  // The performance section's commands are examples users copy: each must parse as written.
  it('use only options npm run bench knows', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');
    const commands = [...readme.matchAll(/npm run bench -- ([^`\n]+)/g)].map((match) => match[1]!.trim().split(/\s+/));
    expect(commands.length).toBeGreaterThan(0);
    for (const args of commands) expect(() => parseOptions(args, {})).not.toThrow();
  });
});
