import type { Pool } from 'pg';
import type { DeliveryResult } from '../delivery/delivery-result.js';

/** The event as a worker claims it. */
export interface ClaimedEvent {
  id: string;
  provider: string;
  eventType: string;
  rawBody: Buffer;
  contentType: string;
  /** This attempt's number (1 on the first). */
  attempts: number;
  traceparent: string | null;
  /** Destinations that already took this event (since its last replay of a COMPLETED event). */
  delivered: string[];
}

// Claiming is one statement: the status guard means a stale or duplicate job finds no row and does nothing.
// PROCESSING is claimable because a job whose worker died comes back through BullMQ's stalled-job check.
const CLAIM = {
  name: 'claim-event',
  text: `UPDATE webhook_events e
            SET status = 'PROCESSING', attempts = e.attempts + 1, updated_at = now()
          WHERE e.id = $1 AND e.status IN ('PENDING', 'FAILED', 'PROCESSING')
      RETURNING e.id, e.provider, e.event_type, e.raw_body, e.content_type, e.attempts, e.traceparent,
                ARRAY(SELECT DISTINCT d.destination FROM delivery_attempts d
                       WHERE d.event_id = e.id AND d.succeeded
                         AND d.at >= coalesce(e.replayed_at, '-infinity'::timestamptz)) AS delivered`,
};

// Recording the attempts and the new status is one round trip; the status guard keeps a late job from
// overwriting an event that moved on (replayed, or finished by another attempt).
const FINISH = {
  name: 'finish-event-attempt',
  text: `WITH recorded AS (
           INSERT INTO delivery_attempts (event_id, destination, attempt, succeeded, status_code, error, duration_ms)
           SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bool[], $5::int[], $6::text[], $7::int[])
         )
         UPDATE webhook_events SET status = $8, last_error = $9, updated_at = now()
          WHERE id = $1 AND status = 'PROCESSING'
      RETURNING id`,
};

export type FinishedStatus = 'COMPLETED' | 'FAILED' | 'DEAD_LETTER';

export class ProcessingStore {
  constructor(private readonly pool: Pool) {}

  /** Moves the event to PROCESSING and counts the attempt; undefined when it is finished already (stale job). */
  async claim(eventId: string): Promise<ClaimedEvent | undefined> {
    const { rows } = await this.pool.query({ ...CLAIM, values: [eventId] });
    const row = rows[0];
    if (!row) return undefined;
    return {
      id: row.id,
      provider: row.provider,
      eventType: row.event_type,
      rawBody: row.raw_body,
      contentType: row.content_type,
      attempts: row.attempts,
      traceparent: row.traceparent,
      delivered: row.delivered ?? [],
    };
  }

  /** The parsed payload, for in-process handlers (HTTP forwarding only needs the raw bytes). */
  async payload(eventId: string): Promise<unknown> {
    const { rows } = await this.pool.query('SELECT payload FROM webhook_events WHERE id = $1', [eventId]);
    return rows[0]?.payload;
  }

  /** Records this attempt's deliveries and the event's new status; false when the event had moved on. */
  async finish(event: ClaimedEvent, results: DeliveryResult[], status: FinishedStatus, lastError: string | null): Promise<boolean> {
    const { rowCount } = await this.pool.query({
      ...FINISH,
      values: [
        event.id,
        results.map((r) => r.destination),
        results.map(() => event.attempts),
        results.map((r) => r.succeeded),
        results.map((r) => r.statusCode),
        results.map((r) => r.error),
        results.map((r) => r.durationMs),
        status,
        lastError,
      ],
    });
    return rowCount === 1;
  }
}
