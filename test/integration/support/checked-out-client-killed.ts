/**
 * Run as its own process by pool-session-killed.test.ts (an unhandled 'error' event ends the process it happens in):
 * checks a client out of the service's pool, has PostgreSQL end that client's session while the client is between
 * queries, then uses the pool again. Prints "survived" and exits 0 when the process lives through it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { createPool } from '../../../services/shared/database/create-pool.js';

const pool = createPool({ url: process.argv[2]!, size: 3, applicationName: 'webhooks-test-killed-session' });
pool.on('error', () => undefined); // the service's pool has this listener too (infrastructure.ts)
const client = await pool.connect();
const pid = (client as unknown as { processID: number }).processID;
await pool.query('SELECT pg_terminate_backend($1)', [pid]);
await delay(300); // the session's end reaches the checked-out client while it runs no query
const failed = await client.query('SELECT 1').then(
  () => false,
  () => true,
);
client.release();
const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one');
await pool.end();
process.stdout.write(`${failed && rows[0]?.one === 1 ? 'survived' : 'unexpected'}\n`);
