import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * Whether a job of an id will still run: `live` (waiting, delayed, prioritized or active), `finished` (in the completed
 * or failed set, kept there: BullMQ ignores an add of its id until it is removed) or `none` (no such job).
 */
export type JobLiveness = 'live' | 'finished' | 'none';

/**
 * The liveness of each job id of `queue`, in one round trip and O(1) each: a job's hash exists from its add until it
 * is removed, and a finished job is in the completed or failed sorted set; any other job is waiting, delayed,
 * prioritized or active. Not `Queue.getJobState`: to tell waiting from active it reads the whole wait list (LRANGE and
 * a Lua loop, or LPOS on Redis ≥ 6.0.6), and the reconciler asks about hundreds of events a pass exactly when the list
 * is longest (a backlog): with 120,000 waiting jobs that took about 6 ms of Redis, which serves nothing else
 * meanwhile, per event.
 */
export async function jobLiveness(connection: Redis, queue: Queue, jobIds: string[]): Promise<JobLiveness[]> {
  if (jobIds.length === 0) return [];
  const pipeline = connection.pipeline();
  for (const jobId of jobIds) {
    pipeline.exists(queue.toKey(jobId)).zscore(queue.keys.completed!, jobId).zscore(queue.keys.failed!, jobId);
  }
  const replies = await pipeline.exec();
  if (!replies) throw new Error('Redis discarded the job-state pipeline');
  for (const [error] of replies) if (error) throw error;
  return jobIds.map((_, index) => {
    const [exists, completed, failed] = replies.slice(index * 3, index * 3 + 3).map(([, reply]) => reply);
    if (exists === 0) return 'none';
    return completed !== null || failed !== null ? 'finished' : 'live';
  });
}
