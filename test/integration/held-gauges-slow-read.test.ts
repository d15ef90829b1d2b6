/**
 * The waiting-events gauges (webhook_destination_events_waiting, webhook_destination_oldest_waiting_age_seconds) are
 * read from PostgreSQL at each scrape, bounded by a timeout (1 s). A read past it left the scrape without their
 * samples: Prometheus marked the series stale, and WebhookDestinationHeldTooLong (`for: 10m`) resolved and started its
 * `for` again, so a slow moment of PostgreSQL every few minutes kept an hour-long wait from ever paging. Each
 * timed-out read also went on in the background while the next scrape started another, so a slow PostgreSQL got one
 * more of these reads a second. Now a scrape whose read is slow serves the last values read (for up to 10 minutes;
 * the age still grows from the oldest event's time), says how old they are in webhook_destination_waiting_read_age_seconds,
 * and starts no second read while one runs; a read that fails outright still leaves no samples.
 *
 * The read is held slow by a real lock: a session holds webhook_events in ACCESS EXCLUSIVE mode.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { pauseSnapshot } from '../../services/shared/destinations/destination-pauses.js';
import { heldSummaries } from '../../services/shared/destinations/held-events.js';
import { DestinationStateGauges, WAITING_LAST_VALUES_MAX_AGE_MS } from '../../services/shared/metrics/destination-protection-metrics.js';
import { registry } from '../../services/shared/metrics/metrics.js';
import { find, parseExposition } from '../observability/support/prometheus-text.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

let db: TestDatabase;
let locker: pg.PoolClient | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await locker?.query('ROLLBACK').catch(() => undefined);
  locker?.release();
  await db?.drop();
});

async function scrape(destination = 'paused') {
  const metrics = parseExposition(await registry.metrics());
  const value = (name: string) => find(metrics, name, { destination })[0]?.value;
  return {
    waiting: value('webhook_destination_events_waiting'),
    age: value('webhook_destination_oldest_waiting_age_seconds'),
    readAge: value('webhook_destination_waiting_read_age_seconds'),
  };
}

/** Holds webhook_events in ACCESS EXCLUSIVE mode, so that reads of the waiting events wait (are slow) until released. */
async function lockEvents(): Promise<void> {
  locker = await db.pool.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE');
}

async function releaseEvents(): Promise<void> {
  await locker!.query('ROLLBACK');
  locker!.release();
  locker = undefined;
}

/** Sessions of the test's pool waiting on the lock in the summary's statement. */
async function summariesWaiting(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND strpos(query, 'unnest(h.held_for)') > 0`,
  );
  return rows[0]!.n;
}

describe('the waiting-events gauges when PostgreSQL reads slowly', () => {
  it('serve the last values read, with their age, and start no second read while one runs', async () => {
    await db.pool.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, held_for, held_since)
       VALUES ('heldco', 'evt_slow_read', 'thing.happened', '{}', '\\x7b7d', 'application/json', 'PENDING', ARRAY['paused'], now() - interval '2 hours')`,
    );
    // No cache, so each scrape reads; a short timeout (the service's is 1 s) so the test need not wait for it.
    new DestinationStateGauges(
      { names: ['paused'], withBreaker: new Set(), read: async () => ({ now: Date.now(), views: [] }), held: () => heldSummaries(db.pool), recordedPauses: async () => (await pauseSnapshot(db.pool)).names },
      0,
      200,
    );
    const fresh = await scrape();
    expect(fresh.waiting).toBe(1);
    expect(fresh.age).toBeGreaterThan(7100);

    await lockEvents();
    const slow = [await scrape(), await scrape(), await scrape()];
    // Fails without the fix: no sample (undefined) at each of these scrapes.
    for (const during of slow) {
      expect(during.waiting).toBe(1);
      expect(during.age).toBeGreaterThan(7100);
      expect(during.readAge).toBeGreaterThan(0);
    }
    // One read waits on the lock, not one per scrape (without the fix: 3).
    await waitFor('the read waiting on the lock', async () => (await summariesWaiting()) >= 1);
    expect(await summariesWaiting()).toBe(1);

    await releaseEvents();
    // Once the read answers, fresh values again.
    await waitFor('a fresh read', async () => (await scrape()).readAge === 0);
    expect((await scrape()).waiting).toBe(1);
  });

  it('serve the last values up to WAITING_LAST_VALUES_MAX_AGE_MS old, and none older', async () => {
    await db.pool.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, held_for, held_since)
       VALUES ('heldco', 'evt_stale_read', 'thing.happened', '{}', '\\x7b7d', 'application/json', 'PENDING', ARRAY['stalled'], now() - interval '2 hours')`,
    );
    // The gauges' clock, moved by the test: a PostgreSQL slow for ten minutes without waiting ten minutes.
    const readAt = Date.now();
    let now = readAt;
    new DestinationStateGauges(
      { names: ['stalled'], withBreaker: new Set(), read: async () => ({ now, views: [] }), held: () => heldSummaries(db.pool), recordedPauses: async () => [] },
      0,
      200,
      () => now,
    );
    expect(await scrape('stalled')).toMatchObject({ waiting: 1, readAge: 0 });

    await lockEvents();
    try {
      // Just inside the limit: the values read at readAt, ten minutes old.
      now = readAt + WAITING_LAST_VALUES_MAX_AGE_MS;
      const inside = await scrape('stalled');
      expect(inside).toMatchObject({ waiting: 1, readAge: WAITING_LAST_VALUES_MAX_AGE_MS / 1000 });
      expect(inside.age).toBeGreaterThan(7100 + WAITING_LAST_VALUES_MAX_AGE_MS / 1000);
      // Past it: no samples, as when the read fails (a PostgreSQL slow for good must not be reported by old values).
      now = readAt + WAITING_LAST_VALUES_MAX_AGE_MS + 1;
      expect(await scrape('stalled')).toEqual({ waiting: undefined, age: undefined, readAge: undefined });
    } finally {
      await releaseEvents();
    }
    // The slow read, once it answers, is served fresh.
    await waitFor('a fresh read', async () => (await scrape('stalled')).readAge === 0);
    expect((await scrape('stalled')).waiting).toBe(1);
  });

  it('leave no samples when the read fails (rather than is slow), as before', async () => {
    // A real failure: a database that does not exist.
    const url = new URL(db.url);
    url.pathname = `/${db.name}_missing`;
    const missing = new pg.Pool({ connectionString: url.toString(), max: 1 });
    missing.on('error', () => undefined);
    let failing = false;
    new DestinationStateGauges(
      { names: ['paused'], withBreaker: new Set(), read: async () => ({ now: Date.now(), views: [] }), held: () => heldSummaries(failing ? missing : db.pool), recordedPauses: async () => [] },
      0,
      5_000,
    );
    try {
      expect((await scrape()).waiting).toBe(1);
      failing = true;
      expect(await scrape()).toEqual({ waiting: undefined, age: undefined, readAge: undefined });
    } finally {
      await missing.end();
    }
  });
});
