/**
 * PayPal's retry of an event can reach the ingest together with the original (one group-committed batch): it is
 * answered as a duplicate of the original's row, and its transmission id must be bound to that event all the same,
 * or a body forged to the retry's CRC32 under its signature would be a new event.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EventWriter, type NewEvent } from '../../services/ingress/ingest/event-writer.js';
import { WebhookVerificationError } from '../../services/ingress/verification/verification-errors.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let db: TestDatabase;
let writer: EventWriter;

const delivery = (externalId: string, transmissionId: string): NewEvent => {
  const body = JSON.stringify({ id: externalId, event_type: 'PAYMENT.CAPTURE.COMPLETED' });
  return {
    provider: 'paypal',
    externalId,
    eventType: 'PAYMENT.CAPTURE.COMPLETED',
    payload: JSON.parse(body) as unknown,
    rawBody: Buffer.from(body),
    contentType: 'application/json',
    headers: {},
    correlationId: null,
    traceId: null,
    traceparent: null,
    replayKey: { key: `transmission:${transmissionId}`, onReuse: 'reject' },
  };
};

beforeAll(async () => {
  db = await createTestDatabase();
  writer = new EventWriter({ pool: db.pool });
});

afterAll(async () => {
  await writer.drain();
  await db?.drop();
});

describe('EventWriter: PayPal transmissions in one batch', () => {
  it("binds a retry's transmission that came in the original's batch, and refuses another event under it", async () => {
    // Submitted in one turn of the event loop: one batch.
    const [original, retry] = await Promise.all([writer.insert(delivery('WH-BATCH-1', 't-original')), writer.insert(delivery('WH-BATCH-1', 't-retry'))]);
    expect([original.duplicate, retry.duplicate, retry.id]).toEqual([false, true, original.id]);
    const { rows } = await db.pool.query('SELECT replay_key, event_id FROM webhook_event_replay_keys');
    expect(rows).toEqual([{ replay_key: 'transmission:t-retry', event_id: original.id }]);

    const forged = await writer.insert(delivery('WH-BATCH-FORGED', 't-retry')).catch((error: unknown) => error);
    expect(forged).toBeInstanceOf(WebhookVerificationError);
    expect((forged as WebhookVerificationError).code).toBe('REPLAYED_TRANSMISSION');
    expect((await db.pool.query(`SELECT 1 FROM webhook_events WHERE external_id = 'WH-BATCH-FORGED'`)).rowCount).toBe(0);
  });
});
