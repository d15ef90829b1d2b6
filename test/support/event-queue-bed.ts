import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../services/shared/database/data-source.js';
import type { Logger } from '../../services/shared/logging/logger.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from './test-redis.js';

/**
 * The stores and no service: a database and a queue namespace of this test's own, and the service's own EventQueue
 * ('webhook-events', 3 attempts, 1 s backoff) on its own Redis connection. For tests that drive the reconciler,
 * retention or the admin service directly against real PostgreSQL and Redis. `close()` closes the queue, the
 * connection, then removes the namespace and the database.
 */
export interface EventQueueBed {
  db: TestDatabase;
  ns: TestQueueNamespace;
  connection: Redis;
  queue: EventQueue;
  close(): Promise<void>;
}

export async function createEventQueueBed(logger: Logger): Promise<EventQueueBed> {
  const db = await createTestDatabase();
  const ns = createQueueNamespace();
  const connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  const queue = new EventQueue({ connection, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger });
  return {
    db,
    ns,
    connection,
    queue,
    async close() {
      await queue.close();
      connection.disconnect();
      await ns.cleanup();
      await db.drop();
    },
  };
}

/** An {@link EventQueueBed} with a TypeORM data source on its database too (what the admin service reads and writes by). */
export interface AdminStoreBed extends EventQueueBed {
  dataSource: DataSource;
}

export async function createAdminStoreBed(logger: Logger, applicationName: string): Promise<AdminStoreBed> {
  const bed = await createEventQueueBed(logger);
  const dataSource = await createDataSource({ url: bed.db.url, poolSize: 3, applicationName }).initialize();
  return {
    ...bed,
    dataSource,
    async close() {
      await bed.queue.close();
      bed.connection.disconnect();
      await dataSource.destroy();
      await bed.ns.cleanup();
      await bed.db.drop();
    },
  };
}
