import { expect } from '@jest/globals';
import type pg from 'pg';
import { adminRequest } from './admin-client.js';
import { waitFor } from './wait-for.js';

/**
 * Where an event stands, as the tests of a running service read it: its row (status, attempts, last error) straight
 * from PostgreSQL, and its delivery attempts as the admin API shows them (GET /admin/events/:id, expected to answer
 * 200).
 */
export interface EventStatusRow {
  status: string;
  attempts: number;
  last_error: string | null;
}

/** One delivery attempt in the admin API's event detail. */
export interface AdminDelivery {
  destination: string;
  attempt: number;
  succeeded: boolean;
  statusCode: number | null;
  error: string | null;
}

export async function readEventRow(pool: pg.Pool, id: string): Promise<EventStatusRow> {
  const { rows } = await pool.query('SELECT status, attempts, last_error FROM webhook_events WHERE id = $1', [id]);
  return rows[0] as EventStatusRow;
}

/** Polls the event's row until its status is `status`; returns that row. */
export function waitForEventStatus(pool: pg.Pool, id: string, status: string, timeoutMs?: number): Promise<EventStatusRow> {
  return waitFor(
    `event ${id} to be ${status}`,
    async () => {
      const row = await readEventRow(pool, id);
      return row?.status === status ? row : undefined;
    },
    timeoutMs === undefined ? undefined : { timeoutMs },
  );
}

export async function adminDeliveries(baseUrl: string, token: string, id: string): Promise<AdminDelivery[]> {
  const response = await adminRequest(baseUrl, token, 'GET', `/admin/events/${id}`);
  expect(response.status).toBe(200);
  return response.json.deliveries as AdminDelivery[];
}
