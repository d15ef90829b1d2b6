import type pg from 'pg';

/**
 * Inserts `n` events of the console-scale tests' shape, one every 3 seconds back from now: 99% completed, 0.5% dead
 * letters, 0.1% failed; stripe has 60% of the events, `rare` 0.1%; five common event types, and one event in 5,000
 * of a rare type (`….rare`).
 */
export async function insertConsoleScaleEvents(pool: pg.Pool, n: number): Promise<void> {
  await pool.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, received_at, updated_at)
     SELECT CASE WHEN g % 1000 = 0 THEN 'rare' WHEN g % 10 = 1 THEN 'acme' WHEN g % 3 = 0 THEN 'github' ELSE 'stripe' END,
            'evt_' || g,
            (ARRAY['invoice.paid','invoice.created','charge.succeeded','push','customer.updated'])[1 + g % 5] || CASE WHEN g % 5000 = 0 THEN '.rare' ELSE '' END,
            '{}'::jsonb, '\\x7b7d'::bytea, 'application/json',
            CASE WHEN g % 200 = 0 THEN 'DEAD_LETTER' WHEN g % 997 = 0 THEN 'FAILED' ELSE 'COMPLETED' END,
            now() - g * interval '3 seconds', now() - g * interval '3 seconds' + interval '1 second'
       FROM generate_series(1, $1::int) AS g`,
    [n],
  );
}
