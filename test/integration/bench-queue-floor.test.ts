import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { testServiceUrls } from '../support/test-services.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// The command scripts/bench/README.md gives, with few jobs: it moves every job through the real Redis with the
// service's EventQueue and EventWorker, reports CPU per job for each side, and leaves no keys behind.
describe('scripts/bench/queue-floor.ts', () => {
  it('moves every job through Redis, reports CPU µs per job of producer, consumer and redis-server, and cleans up', async () => {
    const { redisUrl } = testServiceUrls();
    const { stdout } = await promisify(execFile)('scripts/node.sh', ['--import', 'tsx', 'scripts/bench/queue-floor.ts', '--jobs=400', '--concurrency=16', `--redis=${redisUrl}`], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^producer \(EventQueue\.enqueue, batched addBulk\): \d+ µs CPU per job; redis-server \d+ µs$/);
    expect(lines[1]).toMatch(/^consumer \(EventWorker, concurrency 16, no-op processor\): \d+ µs CPU per job; redis-server \d+ µs$/);
    const summary = JSON.parse(lines.at(-1)!) as { jobs: number; processed: number; producer: { cpuUsPerJob: number }; consumer: { cpuUsPerJob: number } };
    expect(summary).toMatchObject({ bench: 'queue-floor', jobs: 400, concurrency: 16, processed: 400 });
    expect(summary.producer.cpuUsPerJob).toBeGreaterThan(0);
    expect(summary.consumer.cpuUsPerJob).toBeGreaterThan(0);

    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    try {
      expect(await redis.keys('queue-floor-*')).toEqual([]);
    } finally {
      redis.disconnect();
    }
  }, 150_000);
});
