import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import Transport from 'winston-transport';
import { NatsConnection, NatsPublishError } from '../../services/worker/delivery/nats-connection.js';
import { NatsPublisher } from '../../services/worker/delivery/nats-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { NatsServerProcess } from '../faults/support/nats-server-process.js';
import { settlesWithoutIo } from '../support/settles-without-io.js';
import { waitFor } from '../support/wait-for.js';
import { JetStreamTap, uniqueSuffix } from './support/broker-taps.js';

// A nats-server of the test's own, with a user and password, restarted for a moment with other credentials (a server
// briefly misconfigured, a credential rotation reaching the server before the worker): the client's reconnects meet
// authorization errors, two or more in a row. nats.js gives up after two such errors unless told otherwise, and the
// connection closes for good; NATS deliveries to that URL must come back once the credentials match again.

const sfx = uniqueSuffix();
const names = { stream: `CREDENTIALS_TEST_${sfx}`, subjectPrefix: `credentials-test-${sfx}` };
const USER = 'worker';
const PASSWORD = `right-${sfx}`;

/** Log lines, kept for the assertions on what the worker said about the outage. */
class Recorded extends Transport {
  readonly lines: { level: string; message: string }[] = [];
  override log(info: { level: string; message: string }, next: () => void): void {
    this.lines.push({ level: info.level, message: info.message });
    next();
  }
}

let nats: NatsServerProcess;
let url: string;

beforeAll(async () => {
  nats = await NatsServerProcess.create();
  await nats.start(['--user', USER, '--pass', PASSWORD]);
  url = `nats://${USER}:${PASSWORD}@127.0.0.1:${nats.port}`;
  const jetstream = await JetStreamTap.open(url);
  // Created on the server's store, which outlives its restarts (the tap is closed without deleting it).
  await jetstream.jsm.streams.add({ name: names.stream, subjects: [`${names.subjectPrefix}.>`] });
  await jetstream.nc.close();
});

afterEach(async () => {
  // Whatever a test left it as, the next one starts from the right credentials.
  await nats.stop();
  await nats.start(['--user', USER, '--pass', PASSWORD]);
});

afterAll(async () => {
  await nats?.destroy();
});

/**
 * Restarts the server with another password until the client was refused `failures` times (and `meanwhile` ran),
 * then with the right one.
 */
async function restartWithOtherCredentials(failures: number, meanwhile?: () => Promise<void>): Promise<void> {
  await nats.stop();
  const seen = nats.logs.length;
  await nats.start(['--user', USER, '--pass', `wrong-${sfx}`]);
  await waitFor(`${failures} authorization failures`, () => nats.logs.slice(seen).filter((line) => line.includes('authentication error')).length >= failures, {
    timeoutMs: 15_000,
    intervalMs: 100,
  });
  await meanwhile?.();
  await nats.stop();
  await nats.start(['--user', USER, '--pass', PASSWORD]);
}

const event = () => ({ id: randomUUID(), provider: 'testco', eventType: 'credentials.check' });
const message = { body: Buffer.from('{}'), contentType: 'application/json' };

describe('NATS: the server refuses the credentials for a while', () => {
  it('deliveries succeed again within seconds of the credentials matching again (nats.js does not give up on authorization errors)', async () => {
    const recorded = new Recorded();
    const publisher = new NatsPublisher({ defaultTimeoutMs: 2000, defaultMaxConcurrency: 4, logger: winston.createLogger({ transports: [recorded] }) });
    const destination = { name: 'stream', type: 'nats', url, subject: `${names.subjectPrefix}.{provider}.{eventType}` } as Destination;
    try {
      expect(await publisher.deliver(event(), destination, message)).toMatchObject({ succeeded: true });
      // Two refusals in a row: where nats.js (as configured before) gave up for good.
      await restartWithOtherCredentials(2);
      const after = await waitFor('a delivery to succeed', async () => (await publisher.deliver(event(), destination, message)).succeeded, { timeoutMs: 5000, intervalMs: 100 });
      expect(after).toBe(true);
      expect(publisher.connectionCount).toBe(1);
      expect(recorded.lines.filter((line) => line.level === 'error')).toEqual([]);
    } finally {
      await publisher.close();
    }
  });

  it('should nats.js close the connection for good all the same, a new one is made: publishes fail at once meanwhile, one error is logged', async () => {
    const recorded = new Recorded();
    // nats.js allowed to give up after two authorization errors, as it did by default.
    const connection = new NatsConnection(url, winston.createLogger({ transports: [recorded] }), 'credentials test', { ignoreAuthErrorAbort: false });
    const publish = () => connection.publish(`${names.subjectPrefix}.closed.for.good`, Buffer.from('{}'), randomUUID(), {}, 2000);
    try {
      await expect(publish()).resolves.toMatchObject({ stream: names.stream });
      await restartWithOtherCredentials(2, async () => {
        await waitFor('the connection to close for good', () => recorded.lines.some((line) => line.level === 'error'), { timeoutMs: 5000 });
        // At once: without waiting for the new connection or its next refusal (before: a bound of 200 ms, which a
        // loaded machine can exceed).
        const attempt = await settlesWithoutIo(publish());
        expect(attempt.settled).toBe(true);
        const failure = attempt.settled ? attempt.error : undefined;
        expect(failure).toBeInstanceOf(NatsPublishError);
        expect(failure).toMatchObject({ kind: 'unreachable' });
        expect((failure as Error).message).toMatch(/^NATS unreachable: .*Authorization Violation/);
      });
      const after = await waitFor('a publish to succeed', () => publish().catch(() => undefined), { timeoutMs: 5000, intervalMs: 100 });
      expect(after).toMatchObject({ stream: names.stream });
      const said = recorded.lines.map((line) => `${line.level}: ${line.message}`);
      expect(said.filter((line) => line.startsWith('error'))).toEqual(['error: NATS connection closed for good; making a new one']);
      expect(said).toContain('info: NATS connection re-established');
    } finally {
      await connection.close();
    }
  });
});
