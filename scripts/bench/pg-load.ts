/**
 * The baseline, run as a child process of run-bench.ts: what a naive ingress does per request, and nothing
 * else — one single-row `INSERT … ON CONFLICT DO NOTHING RETURNING` (its own implicit transaction, so one
 * commit per request, synchronous_commit as the server has it) of the same row the service stores, from
 * `connections` concurrent clients (a pg pool of that size, one loop per connection), for `durationSec`.
 *
 * Protocol (IPC): parent sends {@link PgLoadRun}; child answers {@link PgLoadResult}; `{type:'close'}` ends it.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createStripeBodyFactory } from './payload.js';
import { serveLoadRuns } from './load-child-protocol.js';
import { percentiles, Samples, type Percentiles } from './stats.js';

export interface PgLoadRun {
  type: 'run';
  label: string;
  databaseUrl: string;
  connections: number;
  durationSec: number;
  payloadBytes: number;
  idPrefix: string;
}

export interface PgLoadResult {
  type: 'result';
  label: string;
  durationSec: number;
  inserted: number;
  conflicts: number;
  errors: number;
  sampleErrors: string[];
  latencyMs: Percentiles;
}

// Named, so it is parsed and planned once per connection: the strongest fair version of the naive path.
const INSERT_ONE = {
  name: 'bench-insert-one',
  text: `INSERT INTO webhook_events
           (provider, external_id, event_type, payload, raw_body, content_type, headers, correlation_id, trace_id, traceparent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (provider, external_id) DO NOTHING
         RETURNING id`,
};

let pool: pg.Pool | undefined;

async function run(params: PgLoadRun): Promise<PgLoadResult> {
  pool ??= new pg.Pool({ connectionString: params.databaseUrl, max: params.connections, application_name: 'bench-baseline' });
  const client = pool;
  // Open every connection before the clock starts, as a service's warm pool would be.
  const opened = await Promise.all(Array.from({ length: params.connections }, () => client.connect()));
  for (const connection of opened) connection.release();

  const body = createStripeBodyFactory(params.payloadBytes);
  const headers = JSON.stringify({ 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)', 'content-type': 'application/json' });
  const latencies = new Samples();
  const sampleErrors: string[] = [];
  let next = 0;
  let inserted = 0;
  let conflicts = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + params.durationSec * 1000;

  const loop = async () => {
    while (performance.now() < deadline) {
      const index = next++;
      const externalId = `${params.idPrefix}_${params.label}_${index}`;
      const payload = body(externalId, index);
      const t0 = performance.now();
      try {
        const { rowCount } = await client.query({
          ...INSERT_ONE,
          values: ['stripe', externalId, 'invoice.paid', payload, Buffer.from(payload), 'application/json', headers, randomUUID(), null, null],
        });
        if (rowCount === 1) inserted++;
        else conflicts++;
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors++;
        if (sampleErrors.length < 5) sampleErrors.push(String((error as Error).message));
      }
    }
  };
  await Promise.all(Array.from({ length: params.connections }, loop));
  return {
    type: 'result',
    label: params.label,
    durationSec: (performance.now() - started) / 1000,
    inserted,
    conflicts,
    errors,
    sampleErrors,
    latencyMs: percentiles(latencies.values()),
  };
}

serveLoadRuns<PgLoadRun>(run, async () => pool?.end());
