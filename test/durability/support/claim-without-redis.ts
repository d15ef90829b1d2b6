import { Redis } from 'ioredis';
import pg from 'pg';
import winston from 'winston';
import { EventQueue } from '../../../services/shared/queue/event-queue.js';
import { waitFor } from '../../support/wait-for.js';
import type { FaultStack } from '../../faults/support/fault-stack.js';

/** A PENDING event whose job is queued while the test holds the event's row: a worker's claim waits on it. */
export interface HeldClaim {
  id: string;
  /** The queue the job was added to (on the stack's Redis itself, not the worker's way to it). */
  queue: EventQueue;
  /** Closes the queue and its connection. */
  closeQueue(): Promise<void>;
  /**
   * Waits until a worker's claim waits on the row, runs `cutRedis` (the worker loses Redis), lets the claim go on, and
   * waits until the job has found the destination state unreadable: the event PENDING again, `waiting:…`. Ordered by
   * the row lock, not by timing.
   */
  claimWithoutRedis(cutRedis: () => Promise<void>): Promise<void>;
}

export async function holdClaim(stack: FaultStack, externalId: string): Promise<HeldClaim> {
  const { rows } = await stack.db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ('stripe', $1, 'invoice.paid', '{}', '\\x7b7d', 'application/json', 'PENDING') RETURNING id`,
    [externalId],
  );
  const id = rows[0]!.id;
  const blocker = new pg.Client({ connectionString: stack.db.url });
  await blocker.connect();
  await blocker.query('BEGIN');
  await blocker.query('SELECT id FROM webhook_events WHERE id = $1 FOR UPDATE', [id]);

  const connection = new Redis(stack.redis.url, { maxRetriesPerRequest: 1 });
  const queue = new EventQueue({
    connection,
    name: 'webhook-events',
    prefix: stack.env.QUEUE_PREFIX!,
    attempts: 8,
    backoffMs: 100,
    logger: winston.createLogger({ silent: true }),
  });
  await queue.enqueue({ eventId: id });

  return {
    id,
    queue,
    async closeQueue() {
      await queue.close();
      connection.disconnect();
    },
    async claimWithoutRedis(cutRedis) {
      await waitFor(
        "the worker's claim to wait on the row",
        async () =>
          (
            await stack.db.pool.query(
              `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE '%claim_token = j.token%'`,
              [stack.db.name],
            )
          ).rowCount === 1,
        { timeoutMs: 20_000, intervalMs: 50 },
      );
      await cutRedis();
      await blocker.query('COMMIT');
      await blocker.end();
      await waitFor(
        'the event to wait for its destination state',
        async () =>
          (await stack.db.pool.query(`SELECT 1 FROM webhook_events WHERE id = $1 AND status = 'PENDING' AND last_error LIKE 'waiting:%'`, [id]))
            .rowCount === 1,
        { timeoutMs: 20_000, intervalMs: 50 },
      );
    },
  };
}
