import type { Pool } from 'pg';
import { withReconnects } from '../../shared/database/with-reconnects.js';
import { payloadHoldsRoundedIntegers } from './unsafe-integers.js';

/** What route filters and transforms read of an event, besides its provider and type. */
export interface RouteInput {
  /** The stored jsonb `payload` (the provider's body, parsed). */
  payload: unknown;
  /**
   * Whether the payload holds an integer beyond 2^53, which `payload` has only as the nearest double (a transform
   * must not send it as the provider's number; see unsafe-integers.ts). Absent: not known.
   */
  holdsRoundedIntegers?: boolean;
  /** The request headers kept with the event (`webhook_events.headers`). */
  headers: Record<string, string>;
}

export interface RouteInputSource {
  read(eventId: string): Promise<RouteInput>;
}

/**
 * Reads an event's payload and kept headers for its routes' filters and transforms. The worker's claim returns the
 * raw bytes only, which is all a plain forward needs; this read happens only for an event that a route with a
 * filter or a transform matches, once per processing attempt.
 */
export class RouteInputReader implements RouteInputSource {
  constructor(private readonly pool: Pick<Pool, 'query'>) {}

  async read(eventId: string): Promise<RouteInput> {
    // A lost connection is not the event's failed attempt: read again on a fresh one, as the claim and finish do.
    const { rows } = await withReconnects(() =>
      // The payload as jsonb's text (what node-pg would JSON.parse itself): its digits tell whether it holds
      // integers that JavaScript's parse rounds.
      this.pool.query<{ payload: string; headers: Record<string, string> | null }>({
        name: 'route-input-v2',
        text: 'SELECT payload::text AS payload, headers FROM webhook_events WHERE id = $1',
        values: [eventId],
      }),
    );
    const row = rows[0];
    if (!row) throw new Error(`event ${eventId} not found (deleted while processing?)`);
    const payload: unknown = JSON.parse(row.payload);
    return { payload, holdsRoundedIntegers: payloadHoldsRoundedIntegers(row.payload), headers: row.headers ?? {} };
  }
}
