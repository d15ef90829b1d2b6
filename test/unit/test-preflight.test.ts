/**
 * The suite's preflight (test/support/global-setup.ts): before any test runs, it checks what the selected test files
 * need besides PostgreSQL and Redis (RabbitMQ, NATS with JetStream, chromium) and fails with one message naming what
 * is missing, where it was looked for and the variable that points elsewhere. Test files that need none of them
 * (`npm run test:unit`) do not require them.
 */
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { missingTestServices, selectedTestFiles } from '../support/global-setup.js';
import { freePort } from '../support/service-process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const file = (relative: string) => path.join(root, relative);
const brokerTest = file('test/integration/broker-publishers.test.ts');
const browserTest = file('test/browser/console.test.ts');
const unitTest = file('test/unit/log-redaction.test.ts');

/** A TCP server that greets every connection with `greeting` (a NATS server without JetStream, say). */
async function greeter(greeting: string): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket.on('error', () => undefined).on('close', () => sockets.delete(socket)));
    socket.end(greeting);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('missingTestServices', () => {
  let deadPort: number;
  let natsWithoutJetStream: Awaited<ReturnType<typeof greeter>>;
  beforeAll(async () => {
    deadPort = await freePort();
    natsWithoutJetStream = await greeter('INFO {"server_id":"x","version":"2.10.0","headers":true}\r\n');
  });
  afterAll(() => natsWithoutJetStream.close());

  it('names the broker that does not answer, where it was looked for, and the variable to point elsewhere', async () => {
    const problems = await missingTestServices(
      { TEST_AMQP_URL: `amqp://user:pw@127.0.0.1:${deadPort}`, TEST_NATS_URL: `nats://127.0.0.1:${deadPort}`, SKIP_BROWSER_TESTS: '1' },
      [brokerTest, unitTest],
    );
    expect(problems).toEqual([
      `RabbitMQ is not reachable at 127.0.0.1:${deadPort} (set TEST_AMQP_URL to point elsewhere; needed by test/integration/broker-publishers.test.ts)`,
      `NATS is not reachable at 127.0.0.1:${deadPort} (run nats-server -js, or set TEST_NATS_URL to point elsewhere; needed by test/integration/broker-publishers.test.ts)`,
    ]);
    expect(problems.join(' ')).not.toContain('pw');
  });

  it('tells a NATS without JetStream, and something that is not RabbitMQ, from a broker that is there', async () => {
    const problems = await missingTestServices(
      { TEST_AMQP_URL: `amqp://127.0.0.1:${natsWithoutJetStream.port}`, TEST_NATS_URL: `nats://127.0.0.1:${natsWithoutJetStream.port}`, SKIP_BROWSER_TESTS: '1' },
      [brokerTest],
    );
    expect(problems).toEqual([
      `what answers at 127.0.0.1:${natsWithoutJetStream.port} is not RabbitMQ (set TEST_AMQP_URL to point elsewhere)`,
      `NATS at 127.0.0.1:${natsWithoutJetStream.port} runs without JetStream (start nats-server with -js, or set TEST_NATS_URL)`,
    ]);
  });

  it('names a missing chromium with CHROMIUM_PATH and SKIP_BROWSER_TESTS=1; skipped browser tests need none', async () => {
    expect(await missingTestServices({ CHROMIUM_PATH: '/nonexistent/chromium' }, [browserTest])).toEqual([
      'chromium is not at /nonexistent/chromium (apt-get install chromium, set CHROMIUM_PATH to point elsewhere, or SKIP_BROWSER_TESTS=1 to skip test/browser/console.test.ts)',
    ]);
    expect(await missingTestServices({ CHROMIUM_PATH: '/nonexistent/chromium', SKIP_BROWSER_TESTS: '1' }, [browserTest])).toEqual([]);
  });

  it('asks nothing of tests that need neither brokers nor a browser', async () => {
    const dead = `127.0.0.1:${deadPort}`;
    expect(await missingTestServices({ TEST_AMQP_URL: `amqp://${dead}`, TEST_NATS_URL: `nats://${dead}`, CHROMIUM_PATH: '/nonexistent' }, [unitTest])).toEqual([]);
  });
});

describe('selectedTestFiles', () => {
  const project = { rootDir: root, testMatch: [`${root}/test/**/*.test.ts`], testPathIgnorePatterns: ['/node_modules/', `${root}/test/faults/`] };
  const patterns = (...list: string[]) => ({
    // What jest 30 passes: a TestPathPatterns, whose executor matches absolute paths.
    toExecutor: () => ({ isMatch: (abs: string) => list.length === 0 || list.some((pattern) => new RegExp(pattern).test(abs)) }),
  });

  it('is every test file of the config without a pattern, and only the matching ones with one', () => {
    const all = selectedTestFiles({ rootDir: root, testPathPatterns: patterns() }, project);
    expect(all).toEqual(expect.arrayContaining([brokerTest, browserTest, unitTest]));
    expect(all.some((selected) => selected.includes('/test/faults/'))).toBe(false);
    const unit = selectedTestFiles({ rootDir: root, testPathPatterns: patterns('test/unit') }, project);
    expect(unit).toContain(unitTest);
    expect(unit.every((selected) => selected.startsWith(file('test/unit/')))).toBe(true);
  });

  it("follows the fault suite's own testMatch", () => {
    const faults = selectedTestFiles(
      { rootDir: root, testPathPatterns: patterns() },
      { rootDir: root, testMatch: [`${root}/test/faults/**/*.test.ts`], testPathIgnorePatterns: ['/node_modules/'] },
    );
    expect(faults).toContain(file('test/faults/broker-restart.test.ts'));
    expect(faults.every((selected) => selected.includes('/test/faults/'))).toBe(true);
  });
});
