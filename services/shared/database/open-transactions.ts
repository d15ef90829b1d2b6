import type pg from 'pg';
import { queryStartSession } from './start-session-query.js';

/**
 * The other sessions of this database with a transaction open and a lock on one of its tables, oldest first: those a
 * migration's lock (or a CONCURRENTLY index build) waited for. Pid, state, application and age only (their query
 * text may hold payloads). The migrations' own sessions are left out. `session`: the migrations' lock session, whose
 * statements wait for an answer a bounded time (start-session-query.ts).
 */
export async function describeOpenTransactions(session: pg.Client): Promise<string[]> {
  const { rows } = await queryStartSession<{ pid: number; state: string | null; application: string; seconds: number; tables: string }>(
    session,
    `SELECT a.pid, a.state, a.application_name AS application, extract(epoch FROM now() - a.xact_start)::int AS seconds,
            string_agg(DISTINCT c.relname, ', ') AS tables
       FROM pg_stat_activity a
       JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation' AND l.granted
       JOIN pg_class c ON c.oid = l.relation AND c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace
      WHERE a.datname = current_database() AND a.xact_start IS NOT NULL AND a.pid <> pg_backend_pid()
        AND a.application_name NOT IN ('migrations', 'migrations-lock')
      GROUP BY a.pid, a.state, a.application_name, a.xact_start
      ORDER BY a.xact_start
      LIMIT 5`,
  );
  return rows.map(
    (row) => `pid ${row.pid} (${row.state ?? 'unknown state'}${row.application ? `, application "${row.application}"` : ''}, transaction open ${row.seconds} s, on ${row.tables})`,
  );
}
