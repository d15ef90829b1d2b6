import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { readChartRoleEnv } from '../../scripts/bench/chart-env.js';
import { parseOptions } from '../../scripts/bench/options.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('bench options', () => {
  it('defaults to the issue\'s load: 64 connections, 2 KB payloads, the worker running as deployed', () => {
    expect(parseOptions([], {})).toMatchObject({ durationSec: 20, connections: 64, payloadBytes: 2048, workerNice: 0, pauseWorker: false, skipBaseline: false });
  });

  it('reads flags over environment variables, and per-role environment', () => {
    const options = parseOptions(['--duration=5', '--pause-worker', '--worker-env=WORKER_CONCURRENCY=64', '--env=DATABASE_POOL_SIZE=8'], { BENCH_DURATION: '9' });
    expect(options).toMatchObject({ durationSec: 5, pauseWorker: true, workerEnv: { WORKER_CONCURRENCY: '64' }, serviceEnv: { DATABASE_POOL_SIZE: '8' } });
    expect(parseOptions([], { BENCH_PAUSE_WORKER: '1' }).pauseWorker).toBe(true);
  });

  it('refuses unknown options and bad numbers', () => {
    expect(() => parseOptions(['--pause-workers'], {})).toThrow(/unknown option/);
    expect(() => parseOptions(['--connections=0'], {})).toThrow(/connections/);
  });

  it("runs the roles with the chart's default settings (the worker's concurrency over the shared config)", () => {
    const env = readChartRoleEnv(root);
    expect(env.worker.WORKER_CONCURRENCY).toBe('128');
    expect(env.worker.DATABASE_POOL_SIZE).toBe(env.ingress.DATABASE_POOL_SIZE);
    expect(env.ingress.WORKER_CONCURRENCY).toBeUndefined();
    expect(Object.values({ ...env.ingress, ...env.worker }).every((value) => typeof value === 'string')).toBe(true);
  });
});
