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

  it('a genuine delivery in the batch of a forgery under its event id is answered as itself, not refused with the forgery', async () => {
    const stored = await writer.insert(delivery('WH-SHARED-1', 't-shared-1'));
    await writer.insert(delivery('WH-SHARED-2', 't-shared-2'));
    // A body forged to the CRC32 of WH-SHARED-2's delivery, under its (used) transmission, carrying WH-SHARED-1's id or
    // an id not stored yet; in the same batch, PayPal's own retry of WH-SHARED-1 and the first delivery of that new id,
    // each under a transmission of its own. The forgeries are refused; the genuine deliveries were refused with them
    // (401, counted against PayPal's address), since later copies of an id in a batch took its first copy's answer.
    const forged = (externalId: string): NewEvent => ({ ...delivery(externalId, 't-shared-2'), rawBody: Buffer.from(`{"id":"${externalId}","event_type":"PAYMENT.CAPTURE.REFUNDED"}`) });
    const answers = await Promise.allSettled([
      writer.insert(forged('WH-SHARED-1')),
      writer.insert(delivery('WH-SHARED-1', 't-shared-3')),
      writer.insert(forged('WH-SHARED-NEW')),
      writer.insert(delivery('WH-SHARED-NEW', 't-shared-4')),
    ]);
    const outcome = (answer: PromiseSettledResult<{ id: string; duplicate: boolean }>) =>
      answer.status === 'fulfilled' ? { id: answer.value.id, duplicate: answer.value.duplicate } : (answer.reason as WebhookVerificationError).code;
    const created = answers[3]!.status === 'fulfilled' ? answers[3].value.id : 'not stored';
    const { rows } = await db.pool.query<{ replay_key: string; event_id: string }>(
      `SELECT replay_key, event_id FROM webhook_event_replay_keys WHERE replay_key = 'transmission:t-shared-3'
       UNION ALL SELECT replay_key, id FROM webhook_events WHERE external_id = 'WH-SHARED-NEW'`,
    );
    expect({ answers: answers.map(outcome), rows }).toEqual({
      answers: ['REPLAYED_TRANSMISSION', { id: stored.id, duplicate: true }, 'REPLAYED_TRANSMISSION', { id: created, duplicate: false }],
      rows: [
        { replay_key: 'transmission:t-shared-3', event_id: stored.id },
        { replay_key: 'transmission:t-shared-4', event_id: created },
      ],
    });
  });

  it('a forgery in the batch of a genuine delivery of its event id, under another event\'s transmission, is refused', async () => {
    await writer.insert(delivery('WH-HELD', 't-held'));
    const stored = await writer.insert(delivery('WH-AFTER-STORED', 't-after-stored'));
    // The first copy of each id genuine (a new event; PayPal's retry of a stored one), a later copy forged to the CRC32
    // of WH-HELD's delivery under its transmission: answered as a duplicate of the genuine one (200, and not counted as
    // a failed verification), where alone it is refused 401.
    const forged = (externalId: string): NewEvent => ({ ...delivery(externalId, 't-held'), rawBody: Buffer.from(`{"id":"${externalId}","event_type":"PAYMENT.CAPTURE.REFUNDED"}`) });
    const answers = await Promise.allSettled([
      writer.insert(delivery('WH-AFTER-NEW', 't-after-new')),
      writer.insert(forged('WH-AFTER-NEW')),
      writer.insert(delivery('WH-AFTER-STORED', 't-after-retry')),
      writer.insert(forged('WH-AFTER-STORED')),
    ]);
    const outcome = (answer: PromiseSettledResult<{ id: string; duplicate: boolean }>) =>
      answer.status === 'fulfilled' ? { id: answer.value.id, duplicate: answer.value.duplicate } : (answer.reason as WebhookVerificationError).code;
    const created = answers[0]!.status === 'fulfilled' ? answers[0].value.id : 'not stored';
    expect(answers.map(outcome)).toEqual([{ id: created, duplicate: false }, 'REPLAYED_TRANSMISSION', { id: stored.id, duplicate: true }, 'REPLAYED_TRANSMISSION']);
  });
});

