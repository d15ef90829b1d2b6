/**
 * The README's test command on a machine without the brokers: jest stops in its global setup, before any test
 * runs, with one message naming the missing broker and the variable that points elsewhere, instead of failing test
 * by test minutes into the run.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from '@jest/globals';
import { freePort } from '../support/service-process.js';
import { testServiceUrls } from '../support/test-services.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

it('a broker test run without RabbitMQ and NATS stops before any test, naming both and TEST_AMQP_URL / TEST_NATS_URL', async () => {
  const deadPort = await freePort();
  const started = Date.now();
  const child = spawn(process.execPath, ['--experimental-vm-modules', 'node_modules/jest/bin/jest.js', '--ci', 'test/integration/broker-publishers.test.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: testServiceUrls().databaseUrl,
      REDIS_URL: testServiceUrls().redisUrl,
      TEST_AMQP_URL: `amqp://guest:guest@127.0.0.1:${deadPort}`,
      TEST_NATS_URL: `nats://127.0.0.1:${deadPort}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  expect(code).not.toBe(0);
  expect(output).toContain(`RabbitMQ is not reachable at 127.0.0.1:${deadPort} (set TEST_AMQP_URL to point elsewhere`);
  expect(output).toContain(`NATS is not reachable at 127.0.0.1:${deadPort} (run nats-server -js, or set TEST_NATS_URL to point elsewhere`);
  // No test ran: the broker test's own connection errors ("these tests need RabbitMQ") never came.
  expect(output).not.toContain('these tests need');
  expect(output).not.toMatch(/Tests:\s+\d/);
  // A jest start takes seconds on a loaded 2-core machine; the test's own beforeAll alone waits longer than this.
  expect(Date.now() - started).toBeLessThan(45_000);
}, 90_000);
