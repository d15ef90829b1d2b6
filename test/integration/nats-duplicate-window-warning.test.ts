import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { NatsPublisher } from '../../services/worker/delivery/nats-publisher.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { longestRetryGap } from '../../services/worker/retry-backoff.js';
import { JetStreamTap, NATS_URL, uniqueSuffix } from './support/broker-taps.js';

// JetStream deduplicates a delivery's re-sends (Nats-Msg-Id) only within its stream's duplicate_window (2 minutes by
// default), and the worker's retries of one event may come further apart (the backoff before the last retry is
// JOB_BACKOFF_MS × 2^(JOB_ATTEMPTS−2): 64 s by default, 256 s with JOB_ATTEMPTS=10): a retry after a lost ack later
// than the window stores the message twice. Nothing said so but the README; now the worker reads each stream's
// window on its first ack and warns, once per stream, when it is shorter.

const sfx = uniqueSuffix();
const prefix = `dup-window-${sfx}`;
const streams = { short: `DUP_WINDOW_SHORT_${sfx}`, long: `DUP_WINDOW_LONG_${sfx}` };
// JOB_ATTEMPTS=10 with the default JOB_BACKOFF_MS (1 s) and the queue's exponential backoff: 256 s before the last retry.
const RETRY_GAP_MS = longestRetryGap({ exponential: true, base: 1000, jitter: 0.5 }, 10);

let jetstream: JetStreamTap;

beforeAll(async () => {
  jetstream = await JetStreamTap.open();
  await jetstream.createStream(streams.short, [`${prefix}.short.>`], 120_000);
  await jetstream.createStream(streams.long, [`${prefix}.long.>`], 300_000);
});

afterAll(async () => {
  await jetstream?.close();
});

function capturingLogger(): { logger: winston.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: winston.createLogger({ level: 'info', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] }) };
}

const destination = (name: string, stream: 'short' | 'long'): Destination => ({ name, type: 'nats', url: NATS_URL, subject: `${prefix}.${stream}.{eventType}` }) as Destination;
const event = () => ({ id: randomUUID(), provider: 'testco', eventType: 'thing.happened' });
const message = { body: Buffer.from('{}'), contentType: 'application/json' };

describe("a stream's duplicate_window against the retries of one event", () => {
  it('is warned about once per stream when shorter, naming the stream and both durations; a long enough one is not', async () => {
    expect(RETRY_GAP_MS).toBe(256_000);
    const { logger, lines } = capturingLogger();
    const publisher = new NatsPublisher({ defaultTimeoutMs: 5000, defaultMaxConcurrency: 4, logger, longestRetryGapMs: RETRY_GAP_MS });
    try {
      for (const [name, stream] of [['short', 'short'], ['long', 'long'], ['short', 'short'], ['alsoShort', 'short']] as const) {
        expect(await publisher.deliver(event(), destination(name, stream), message)).toMatchObject({ succeeded: true });
      }
      await publisher.duplicateWindows.settled();
      const warnings = lines.filter((line) => line.level === 'warn');
      expect(warnings).toEqual([
        expect.objectContaining({
          message: `JetStream stream "${streams.short}" deduplicates re-sends within 120 s (duplicate_window), but retries of one event may come 256 s apart (JOB_BACKOFF_MS doubled up to JOB_ATTEMPTS): a retry after a lost ack later than the window is stored twice; give the stream a duplicate_window of at least 256 s`,
          stream: streams.short,
          destination: 'short',
          duplicateWindowMs: 120_000,
          longestRetryGapMs: 256_000,
        }),
      ]);
    } finally {
      await publisher.close();
    }
  });

  it('with the default retries (64 s apart at most) the default window (2 minutes) is not warned about', async () => {
    const { logger, lines } = capturingLogger();
    const defaults = longestRetryGap({ exponential: true, base: 1000, jitter: 0.5 }, 8);
    expect(defaults).toBe(64_000);
    const publisher = new NatsPublisher({ defaultTimeoutMs: 5000, defaultMaxConcurrency: 4, logger, longestRetryGapMs: defaults });
    try {
      expect(await publisher.deliver(event(), destination('short', 'short'), message)).toMatchObject({ succeeded: true });
      await publisher.duplicateWindows.settled();
      expect(lines.filter((line) => line.level === 'warn')).toEqual([]);
    } finally {
      await publisher.close();
    }
  });
});
