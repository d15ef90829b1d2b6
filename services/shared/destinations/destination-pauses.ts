import type { Pool } from 'pg';
import type { DestinationStateStore } from './destination-state.js';

/** The paused destinations at one version of `destination_pauses`. */
export interface PauseSnapshot {
  version: number;
  names: string[];
  /** When each was paused (ISO 8601). */
  pausedAt: Record<string, string>;
}

const SNAPSHOT = `SELECT v.version::text AS version,
                         coalesce((SELECT json_object_agg(destination, paused_at ORDER BY destination) FROM destination_pauses), '{}'::json) AS paused
                    FROM destination_pause_version v`;

/** The paused set now (one statement: a consistent snapshot); needs only PostgreSQL. */
export async function pauseSnapshot(pool: Pool): Promise<PauseSnapshot> {
  const { rows } = await pool.query<{ version: string; paused: Record<string, string> }>(SNAPSHOT);
  const row = rows[0];
  if (!row) throw new Error('destination_pause_version has no row: run the migrations');
  const pausedAt = Object.fromEntries(Object.entries(row.paused).map(([name, at]) => [name, new Date(at).toISOString()]));
  return { version: Number(row.version), names: Object.keys(pausedAt), pausedAt };
}

/**
 * Which destinations are paused. PostgreSQL (`destination_pauses`) is the record, so a pause survives any restart,
 * Redis's included; Redis holds the copy that workers read before every delivery. Each change bumps
 * `destination_pause_version` in the same transaction (which also serialises changes), and the copy is written with
 * its version, so Redis always ends with the newest. A worker finding no copy in Redis writes one from here.
 */
export class DestinationPauses {
  constructor(
    private readonly pool: Pool,
    private readonly state: DestinationStateStore,
  ) {}

  /** The paused set now (one statement: a consistent snapshot). */
  snapshot(): Promise<PauseSnapshot> {
    return pauseSnapshot(this.pool);
  }

  /** Copies the paused set to Redis (a worker that found none there, or after a change); `copied`: this call wrote it. */
  async syncToRedis(): Promise<PauseSnapshot & { copied: boolean }> {
    const snapshot = await this.snapshot();
    // false when Redis held this version already (the change's own copy, or another worker's, got there first).
    const copied = await this.state.syncPauses(snapshot.version, snapshot.names);
    return { ...snapshot, copied };
  }

  /**
   * Pauses (`true`) or resumes (`false`) a destination: recorded in PostgreSQL, then copied to Redis. Once this
   * resolves, no worker starts a delivery to a paused destination. Rejects with {@link PauseNotCopiedError} when the
   * change is recorded but could not be copied (it reaches Redis with the next change or re-sync); with PostgreSQL's
   * error when it is not recorded at all.
   * @returns whether the state changed (false: it was already so)
   */
  async set(name: string, paused: boolean): Promise<boolean> {
    const client = await this.pool.connect();
    let changed: boolean;
    try {
      await client.query('BEGIN');
      await client.query('UPDATE destination_pause_version SET version = version + 1');
      const result = paused
        ? await client.query('INSERT INTO destination_pauses (destination) VALUES ($1) ON CONFLICT DO NOTHING', [name])
        : await client.query('DELETE FROM destination_pauses WHERE destination = $1', [name]);
      changed = (result.rowCount ?? 0) > 0;
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release(error as Error);
      throw error;
    }
    client.release();
    await this.syncToRedis().catch((error: unknown) => {
      throw new PauseNotCopiedError(name, paused, error);
    });
    return changed;
  }
}

/**
 * A pause or resume recorded in PostgreSQL that could not be copied to Redis (which the workers read): not in effect
 * yet, and in effect once a worker's re-sync copies it. Told apart from a change PostgreSQL did not record, which is
 * not in effect at all and must be sent again.
 */
export class PauseNotCopiedError extends Error {
  constructor(
    readonly destination: string,
    readonly paused: boolean,
    cause: unknown,
  ) {
    super(`the ${paused ? 'pause' : 'resume'} of "${destination}" is recorded but was not copied to Redis: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'PauseNotCopiedError';
  }
}
