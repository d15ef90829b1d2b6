import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { NatsPublisher } from '../../services/worker/delivery/nats-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { waitFor } from '../support/wait-for.js';
import { JetStreamTap, NATS_URL, uniqueSuffix } from './support/broker-taps.js';

// A publish that waited for the connection to NATS past its attempt's timeoutMs failed ("no connection to NATS within
// … ms"), yet went on waiting, and was published once the connection came up: a message stored for an attempt
// recorded as failed, after the worker had moved on (as the AMQP publisher never does: nothing is written once the
// attempt is over). Now the wait ends with the attempt, and nothing is published after it.

const sfx = uniqueSuffix();
const stream = `NATS_LATE_${sfx}`;
const subjectPrefix = `nats-late-${sfx}`;

/**
 * A TCP proxy to NATS that holds each new connection (nothing is forwarded, so the client waits for the server's
 * INFO) until the test lets them through: a server slow to accept, or a slow network path, under the test's control.
 */
class GatedProxy {
  private server?: net.Server;
  private readonly held: (() => void)[] = [];
  private open = false;
  private readonly sockets = new Set<net.Socket>();

  async start(target: URL): Promise<number> {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('error', () => undefined);
      client.pause();
      const through = () => {
        const upstream = net.connect({ host: target.hostname, port: Number(target.port || 4222) });
        this.sockets.add(upstream);
        upstream.on('error', () => undefined);
        client.pipe(upstream).pipe(client);
        client.resume();
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      };
      if (this.open) through();
      else this.held.push(through);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Lets the held connections (and every later one) through. */
  release(): void {
    this.open = true;
    for (const through of this.held.splice(0)) through();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

let jetstream: JetStreamTap;
let proxy: GatedProxy;
let port: number;

beforeAll(async () => {
  jetstream = await JetStreamTap.open();
  await jetstream.createStream(stream, [`${subjectPrefix}.>`]);
  proxy = new GatedProxy();
  port = await proxy.start(new URL(NATS_URL));
});

afterAll(async () => {
  await proxy?.stop();
  await jetstream?.close();
});

describe('NATS: a publish whose attempt timed out waiting for the connection', () => {
  it('is not published once the connection comes up', async () => {
    const url = new URL(NATS_URL);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    const destination = { name: 'late', type: 'nats', url: url.toString(), subject: `${subjectPrefix}.{eventType}`, timeoutMs: 300 } as Destination;
    const publisher = new NatsPublisher({ defaultTimeoutMs: 300, defaultMaxConcurrency: 4, logger: winston.createLogger({ silent: true }) });
    const message = { body: Buffer.from('{}'), contentType: 'application/json' };
    const timedOut = { id: randomUUID(), provider: 'testco', eventType: 'first' };
    const later = { id: randomUUID(), provider: 'testco', eventType: 'second' };
    try {
      const first = await publisher.deliver(timedOut, destination, message);
      expect(first).toMatchObject({ succeeded: false, result: 'timeout', error: 'no connection to NATS within 300 ms' });
      // The connection comes up (within nats.js's 5 s connect timeout): a publish still waiting for it went out then.
      proxy.release();
      const second = await waitFor('a publish on the connection once it is up', async () => {
        const result = await publisher.deliver(later, { ...destination, timeoutMs: 5000 } as Destination, message);
        return result.succeeded ? result : undefined;
      });
      expect(second).toMatchObject({ succeeded: true });
      // Both waited for the one connection; the first, waiting longer, would have been published before the second.
      const stored = (await jetstream.messages(stream)).map((stored) => stored.subject);
      expect(stored).toEqual([`${subjectPrefix}.second`]);
    } finally {
      await publisher.close();
    }
  });
});
