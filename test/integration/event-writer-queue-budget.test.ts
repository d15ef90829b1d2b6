/**
 * EventWriter with a StoreQueueBudget, on real PostgreSQL: an insert the budget has no room for is refused at once
 * (StoreQueueFullError, nothing queued nor stored), and every charge is given back when its write resolves, stored or
 * failed (PostgreSQL refusing the connection).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { EventWriter, type NewEvent } from '../../services/ingress/ingest/event-writer.js';
import { StoreQueueBudget, WEBHOOK_OVERHEAD_BYTES } from '../../services/ingress/ingest/store-queue-budget.js';
import { StoreQueueFullError } from '../../services/ingress/ingest/store-queue-full-error.js';
import { createPool } from '../../services/shared/database/create-pool.js';
import { closePool, createTestDatabase, type TestDatabase } from '../support/test-database.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

const event = (externalId: string): NewEvent => {
  const body = JSON.stringify({ id: externalId, type: 'invoice.paid' });
  return {
    provider: 'stripe',
    externalId,
    eventType: 'invoice.paid',
    payload: JSON.parse(body) as unknown,
    rawBody: Buffer.from(body),
    contentType: 'application/json',
    headers: {},
    correlationId: null,
    traceId: null,
    traceparent: null,
    replayKey: null,
  };
};

/** A port nothing listens on: PostgreSQL refusing every connection. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('EventWriter with a queue budget', () => {
  it('refuses at once what the budget has no room for, stores the rest, and gives every charge back', async () => {
    const first = event('evt_budget_1');
    const budget = new StoreQueueBudget(2 * (first.rawBody.length + WEBHOOK_OVERHEAD_BYTES));
    const writer = new EventWriter({ pool: db.pool, queueBudget: budget });
    // Three in one turn: two fit, the third is refused before anything is flushed.
    const results = await Promise.allSettled([writer.insert(first), writer.insert(event('evt_budget_2')), writer.insert(event('evt_budget_3'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(StoreQueueFullError);
    const stored = await db.pool.query<{ external_id: string }>("SELECT external_id FROM webhook_events WHERE external_id LIKE 'evt_budget_%' ORDER BY 1");
    expect(stored.rows.map((r) => r.external_id)).toEqual(['evt_budget_1', 'evt_budget_2']);
    expect(budget.heldBytes).toBe(0);
    // Room again once they were stored.
    await expect(writer.insert(event('evt_budget_3'))).resolves.toMatchObject({ duplicate: false });
    expect(budget.heldBytes).toBe(0);
  });

  it('gives the charge back when the write fails', async () => {
    const url = new URL(db.url);
    url.hostname = '127.0.0.1';
    url.port = String(await closedPort());
    const pool = createPool({ url: url.toString(), size: 2, applicationName: 'webhooks-queue-budget-test' });
    pool.on('error', () => undefined);
    try {
      const budget = new StoreQueueBudget(StoreQueueBudget.defaultBytes(1_048_576));
      const writer = new EventWriter({ pool, queueBudget: budget });
      const inserts = [writer.insert(event('evt_budget_failed_1')), writer.insert(event('evt_budget_failed_2'))];
      expect(budget.heldBytes).toBeGreaterThan(0);
      for (const insert of inserts) await expect(insert).rejects.toThrow();
      expect(budget.heldBytes).toBe(0);
    } finally {
      await closePool(pool);
    }
  });

  it('defaults to the body budget size, at least two writer rounds of small webhooks and two of the largest', () => {
    expect(StoreQueueBudget.defaultBytes(1_048_576, 20)).toBe(10 * 1_048_576);
    expect(StoreQueueBudget.defaultBytes(4096, 20)).toBe(2 * 4 * 200 * WEBHOOK_OVERHEAD_BYTES);
    expect(StoreQueueBudget.defaultBytes(64 * 1_048_576, 1)).toBe(2 * (64 * 1_048_576 + WEBHOOK_OVERHEAD_BYTES));
  });
});
