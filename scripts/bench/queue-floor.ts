/**
 * The queue's own cost per event: the service's EventQueue (the ingress's batched `addBulk`, the job options as
 * deployed) and EventWorker (the worker's BullMQ consumer, the chart's concurrency) moving jobs through Redis with
 * nothing else: no HTTP, no PostgreSQL, a processor that returns at once. Prints CPU µs per job of the producer
 * side, the consumer side and redis-server, measured separately (all jobs added, then all consumed). No part of
 * the service can cost less than this while every event is one BullMQ job; the bench's per-role figures include it.
 *
 *   scripts/node.sh --import tsx scripts/bench/queue-floor.ts [--jobs=30000] [--concurrency=128] [--redis=redis://127.0.0.1:6379]
 *
 * The last line is a JSON summary.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { configureLogging, createLogger } from '../../services/shared/logging/logger.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { EventWorker } from '../../services/worker/event-worker.js';
import type { EventProcessor } from '../../services/worker/processing/event-processor.js';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string | undefined]));
const jobs = Number(args.get('jobs') ?? 30_000);
const concurrency = Number(args.get('concurrency') ?? 128);
const redisUrl = args.get('redis') ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
for (const [name, value] of [['jobs', jobs], ['concurrency', concurrency]] as const) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name}: a whole number ≥ 1 (got ${args.get(name)})`);
}

/** CPU time (user + system) of a process in µs, from /proc (clock ticks of 10 ms). */
function processCpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
const ownCpuUs = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};
/** redis-server's pid, when it runs on this machine (its CPU is then counted too). */
function redisServerPid(): number | undefined {
  try {
    const pid = Number(execFileSync('pgrep', ['-x', 'redis-server'], { encoding: 'utf8' }).trim().split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

configureLogging({ level: 'warn', role: 'bench' });
const logger = createLogger('queue-floor');
const prefix = `queue-floor-${randomUUID().slice(0, 8)}`;
const redisPid = redisServerPid();
const redisCpu = () => (redisPid ? processCpuUs(redisPid) : 0);
const producerConnection = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
const workerConnection = new Redis(redisUrl, { maxRetriesPerRequest: null });
const queue = new EventQueue({ connection: producerConnection, name: 'webhook-events', prefix, attempts: 8, backoffMs: 1000, logger });
const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

type Measured = { cpuUsPerJob: number; redisUsPerJob: number; seconds: number };
const measure = async (run: () => Promise<void>): Promise<Measured> => {
  const [ownBefore, redisBefore, started] = [ownCpuUs(), redisCpu(), performance.now()];
  await run();
  const seconds = (performance.now() - started) / 1000;
  return { cpuUsPerJob: Math.round((ownCpuUs() - ownBefore) / jobs), redisUsPerJob: redisPid ? Math.round((redisCpu() - redisBefore) / jobs) : NaN, seconds };
};

try {
  // Producer: 64 requests' worth of enqueues at a time, as concurrent webhooks give the ingress's batcher.
  const producer = await measure(async () => {
    for (let next = 0; next < jobs; ) {
      const wave: Promise<void>[] = [];
      for (let i = 0; i < 64 && next < jobs; i++, next++) wave.push(queue.enqueue({ eventId: randomUUID(), traceparent }));
      await Promise.all(wave);
    }
  });
  let processed = 0;
  const processor = { process: async () => (processed++, 'completed' as const) } as unknown as EventProcessor;
  const worker = new EventWorker({ connection: workerConnection, queueName: 'webhook-events', prefix, concurrency, lockDurationMs: 30_000, stalledIntervalMs: 30_000, processor, logger });
  const consumer = await measure(async () => {
    worker.start();
    const deadline = Date.now() + 300_000;
    // Done when every job ran and BullMQ finished them all (a job is finished after its processor returns).
    for (;;) {
      const counts = await queue.counts();
      if (processed >= jobs && counts.active + counts.waiting === 0) break;
      if (Date.now() > deadline) throw new Error(`only ${processed} of ${jobs} jobs processed within 300 s`);
      await delay(20);
    }
  });
  await worker.close();
  const summary = { bench: 'queue-floor', jobs, concurrency, processed, producer, consumer, redisCounted: redisPid !== undefined };
  console.log(`producer (EventQueue.enqueue, batched addBulk): ${producer.cpuUsPerJob} µs CPU per job; redis-server ${producer.redisUsPerJob} µs`);
  console.log(`consumer (EventWorker, concurrency ${concurrency}, no-op processor): ${consumer.cpuUsPerJob} µs CPU per job; redis-server ${consumer.redisUsPerJob} µs`);
  console.log(JSON.stringify(summary));
} catch (error) {
  process.exitCode = 1;
  throw error;
} finally {
  // A stray BullMQ or ioredis timer must not keep a finished measurement running; the exit code stays as set.
  setTimeout(() => process.exit(), 2000).unref();
  await queue.queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  producerConnection.disconnect();
  workerConnection.disconnect();
}
