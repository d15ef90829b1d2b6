import type { Pool } from 'pg';
import { withReconnects } from '../../shared/database/with-reconnects.js';

/** What route filters and transforms read of an event, besides its provider and type. */
export interface RouteInput {
  /** The stored jsonb `payload` (the provider's body, parsed). */
  payload: unknown;
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
      this.pool.query<{ payload: unknown; headers: Record<string, string> | null }>({
        name: 'route-input-v1',
        text: 'SELECT payload, headers FROM webhook_events WHERE id = $1',
        values: [eventId],
      }),
    );
    const row = rows[0];
    if (!row) throw new Error(`event ${eventId} not found (deleted while processing?)`);
    return { payload: row.payload, headers: row.headers ?? {} };
  }
}
