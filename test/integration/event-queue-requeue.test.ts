import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger } from '../../services/shared/logging/logger.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * `EventQueue.requeue` (the reconciler's and replay's "make sure a job will run") adds a job only where none will
 * run, and finds that out without reading the queue's lists: the reconciler asks about hundreds of events a pass,
 * during a backlog, when the wait list is longest, and Redis serves nothing else while a script reads it.
 */

const logger = createLogger('event-queue-requeue-test');
const JOB = 'process-event';

describe('EventQueue.requeue', () => {
  let ns: TestQueueNamespace;
  let connection: Redis;
  let queue: EventQueue;

  beforeAll(() => {
    ns = createQueueNamespace();
    connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
    queue = new EventQueue({ connection, name: 'webhook-events', prefix: ns.prefix, attempts: 1, backoffMs: 1000, logger });
  });

  afterAll(async () => {
    await queue?.close();
    connection?.disconnect();
    await ns?.cleanup();
  });

  it('adds a job for an event whose job finished or never was; leaves a waiting, delayed or active one alone', async () => {
    const release: { resolve?: () => void } = {};
    const workerConnection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker(
      'webhook-events',
      async (job: Job) => {
        if (job.id === 'failed-1') throw new Error('destination down');
        if (job.id === 'active-1') await new Promise<void>((resolve) => (release.resolve = resolve));
        return 'done';
      },
      { connection: workerConnection, prefix: ns.prefix },
    );
    try {
      await queue.queue.add(JOB, { eventId: 'completed-1' }, { jobId: 'completed-1' }); // kept when completed (BullMQ's default)
      await queue.queue.add(JOB, { eventId: 'failed-1' }, { jobId: 'failed-1', attempts: 1 });
      await queue.queue.add(JOB, { eventId: 'active-1' }, { jobId: 'active-1' });
      await waitFor('the jobs to finish or start', async () => {
        const [completed, failed, active] = await Promise.all(['completed-1', 'failed-1', 'active-1'].map((id) => queue.queue.getJobState(id)));
        return completed === 'completed' && failed === 'failed' && active === 'active';
      });
      await worker.pause(true); // nothing else is taken: what is added next stays waiting or delayed
      await queue.queue.add(JOB, { eventId: 'waiting-1' }, { jobId: 'waiting-1' });
      await queue.queue.add(JOB, { eventId: 'delayed-1' }, { jobId: 'delayed-1', delay: 60_000 });

      expect(await queue.requeue({ eventId: 'active-1' })).toBe(false);
      expect(await queue.requeue({ eventId: 'waiting-1' })).toBe(false);
      expect(await queue.requeue({ eventId: 'delayed-1' })).toBe(false);
      expect(await queue.requeue({ eventId: 'completed-1' })).toBe(true);
      expect(await queue.requeue({ eventId: 'failed-1' })).toBe(true);
      expect(await queue.requeue({ eventId: 'never-1' })).toBe(true);
      for (const id of ['completed-1', 'failed-1', 'never-1']) {
        expect(await queue.queue.getJobState(id)).toBe('waiting');
        expect((await queue.queue.getJob(id))?.data).toEqual({ eventId: id });
      }
      expect(await queue.requeue({ eventId: 'never-1' })).toBe(false); // now it has a waiting job
    } finally {
      release.resolve?.();
      await worker.close(true);
      workerConnection.disconnect();
    }
  });

  it('does not read the wait list, however long it is', async () => {
    const waiting = 20_000;
    for (let start = 0; start < waiting; start += 1000) {
      await queue.queue.addBulk(
        Array.from({ length: 1000 }, (_, index) => ({ name: JOB, data: { eventId: `bulk-${start + index}` }, opts: { jobId: `bulk-${start + index}` } })),
      );
    }
    const monitorConnection = new Redis(ns.redisUrl);
    const monitor = await monitorConnection.monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((arg) => typeof arg === 'string' && arg.startsWith(`${ns.prefix}:`))) seen.push(args.join(' '));
    });
    try {
      // Asked about waiting jobs at both ends of the list, and about an event with no job.
      expect(await queue.requeue({ eventId: 'bulk-0' })).toBe(false);
      expect(await queue.requeue({ eventId: `bulk-${waiting - 1}` })).toBe(false);
      expect(await queue.requeue({ eventId: 'no-job-yet' })).toBe(true);
      await waitFor('the monitor to show the requeue commands', async () => seen.some((line) => line.includes('no-job-yet')));
    } finally {
      monitor.disconnect();
      monitorConnection.disconnect();
    }
    const listReads = seen.filter((line) => /^(lrange|lpos|lindex)\b/i.test(line));
    expect(listReads).toEqual([]);
  });
});
