import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { AmqpPublisher } from '../../services/worker/delivery/amqp-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// Review reproductions (rev-brokers) that need a RabbitMQ node of the test's own (a resource alarm and a small
// max_message_size cannot be set on a shared broker). Skipped unless REV_BROKERS_RABBIT_URL (e.g.
// amqp://guest:guest@127.0.0.1:5682) and REV_BROKERS_RABBITMQCTL (a command line for that node's rabbitmqctl, e.g.
// "env HOME=/tmp/rev-brokers-scratch/rmq/home /usr/lib/rabbitmq/bin/rabbitmqctl -n revbrokers@localhost") are set;
// the node must run with `max_message_size = 2097152`.

const url = process.env.REV_BROKERS_RABBIT_URL;
const ctl = process.env.REV_BROKERS_RABBITMQCTL;
const run = url && ctl ? describe : describe.skip;
const rabbitmqctl = (...args: string[]) => {
  const [command, ...rest] = ctl!.split(' ');
  execFileSync(command!, [...rest, ...args], { stdio: 'ignore' });
};

const sfx = uniqueSuffix();
const exchange = `rev-brokers-own-${sfx}`;
const queue = `rev-brokers-own-${sfx}-q`;
const options = { defaultTimeoutMs: 2000, defaultMaxConcurrency: 32, logger: winston.createLogger({ silent: true }) };
const destination = { name: 'bus', type: 'amqp', url, exchange, routingKey: '{provider}.{eventType}' } as Destination;
const event = () => ({ id: randomUUID(), provider: 'testco', eventType: 'thing.happened' });
const body = (bytes: number) => ({ body: Buffer.alloc(bytes, 97), contentType: 'application/json' });

let rabbit: RabbitTap;

run('AMQP on a node of its own', () => {
  beforeAll(async () => {
    rabbit = await RabbitTap.open(url);
    await rabbit.bindQueue(queue, exchange, '#');
  });

  afterAll(async () => {
    if (ctl) rabbitmqctl('set_vm_memory_high_watermark', '0.4');
    await rabbit?.close();
  });

  it('an event over max_message_size fails alone, naming the size; the publishes beside it are confirmed', async () => {
    const publisher = new AmqpPublisher(options);
    try {
      expect((await publisher.deliver(event(), destination, body(2))).succeeded).toBe(true);
      const before = Array.from({ length: 15 }, () => publisher.deliver(event(), destination, body(50_000)));
      const huge = publisher.deliver(event(), destination, body(3 * 1024 * 1024));
      const after = Array.from({ length: 15 }, () => publisher.deliver(event(), destination, body(50_000)));
      const [hugeResult, ...others] = await Promise.all([huge, ...before, ...after]);
      // Observed: the huge one's error is "the RabbitMQ channel closed before the broker confirmed the message
      // (channel closed)" (no size, no 406), and the publishes sent after it on the shared channel fail the same way.
      expect({ hugeError: /size|406|PRECONDITION/.test(hugeResult!.error ?? ''), failedBeside: others.filter((r) => !r.succeeded).length }).toEqual({
        hugeError: true,
        failedBeside: 0,
      });
    } finally {
      await publisher.close();
    }
  });

  it('while RabbitMQ blocks publishing (resource alarm), attempts fail at once and nothing is queued behind them', async () => {
    const publisher = new AmqpPublisher(options);
    const id = randomUUID();
    try {
      expect((await publisher.deliver(event(), destination, body(2))).succeeded).toBe(true);
      await rabbit.messages(queue);
      rabbitmqctl('set_vm_memory_high_watermark', '0');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const attempts = [];
      for (let attempt = 0; attempt < 4; attempt++) {
        const started = Date.now();
        const result = await publisher.deliver({ ...event(), id }, destination, body(256 * 1024));
        attempts.push({ result: result.result, blockedNamed: /block|alarm/i.test(result.error ?? ''), fast: Date.now() - started < 500 });
      }
      rabbitmqctl('set_vm_memory_high_watermark', '0.4');
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const copies = (await rabbit.messagesFor(queue, id)).length;
      // Observed: four attempts of 2 s each ("no confirm from RabbitMQ within 2000 ms"), each one's message left in
      // the worker's socket buffer, and after the alarm clears the event failed 4 times (dead-lettered with
      // JOB_ATTEMPTS=4) although its 4 copies are all in the queue.
      expect({ attempts, copies }).toEqual({ attempts: attempts.map(() => ({ result: 'network_error', blockedNamed: true, fast: true })), copies: 0 });
    } finally {
      rabbitmqctl('set_vm_memory_high_watermark', '0.4');
      await publisher.close();
    }
  });
});
