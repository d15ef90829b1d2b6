/**
 * The pgbench baseline: PostgreSQL's own load generator (C, libpq, `-M prepared`) running the same single-row
 * `INSERT … ON CONFLICT DO NOTHING RETURNING` of the same ~2 KB row as pg-load.ts, one transaction (one commit)
 * each. It is the ceiling of what one server takes of this insert on this machine: no JavaScript, no pool.
 *
 * The row: provider `stripe`, a unique external id per transaction (`<idPrefix>_<label>_<client_id>_<n>`, n a
 * per-client counter, so no conflicts), the payload passed as a bound parameter (parsed to jsonb by the server on
 * every insert, as the Node client's is) of the size payload.ts makes, raw_body the same bytes, the same headers
 * JSON, a random correlation id.
 *
 * run-bench.ts runs it (runPgbenchBaseline); the functions here build the script and arguments and read pgbench's
 * output and its per-transaction log (`-l`: one line per transaction with its latency and completion time).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createStripeBodyFactory } from './payload.js';

/** The headers JSON pg-load.ts stores with every row. */
export const BASELINE_HEADERS_JSON = JSON.stringify({ 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)', 'content-type': 'application/json' });

/** The custom script (`-f`): `:client_id` is pgbench's, `:n` a per-client counter (`-D n=0`), `:payload` / `:headers` from `-D`. */
export function pgbenchScript(idPrefix: string, label: string): string {
  const prefix = `${idPrefix}_${label}_`;
  if (!/^[A-Za-z0-9_-]+$/.test(prefix)) throw new Error(`pgbench id prefix must be [A-Za-z0-9_-] (got ${prefix})`);
  return [
    '\\set n :n + 1',
    'INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, headers, correlation_id, trace_id, traceparent)',
    `  VALUES ('stripe', '${prefix}' || :client_id || '_' || :n, 'invoice.paid', :payload, convert_to(:payload, 'UTF8'), 'application/json', :headers, gen_random_uuid()::text, NULL, NULL)`,
    '  ON CONFLICT (provider, external_id) DO NOTHING',
    '  RETURNING id;',
    '',
  ].join('\n');
}

/** A payload as pg-load.ts makes them: its body for a typical row (a 5-digit index, an event type of average length). */
export function pgbenchPayload(payloadBytes: number, idPrefix: string): string {
  const index = 10_001;
  return createStripeBodyFactory(payloadBytes)(`${idPrefix}_b_${index}`, index);
}

export interface PgbenchArgs {
  connections: number;
  threads: number;
  durationSec: number;
  scriptPath: string;
  payload: string;
  databaseUrl: string;
  /** `-l --log-prefix=<logPrefix>`: the per-transaction log. */
  logPrefix?: string;
}

/** `pgbench -n -c <connections> -j <threads> -T <duration> -M prepared -f <script> … <conninfo>` (pgbench takes whole seconds). */
export function pgbenchArgs(args: PgbenchArgs): string[] {
  return [
    '-n',
    '-c', String(args.connections),
    '-j', String(Math.max(1, Math.min(args.threads, args.connections))),
    '-T', String(Math.max(1, Math.round(args.durationSec))),
    '-M', 'prepared',
    '-f', args.scriptPath,
    '-D', 'n=0',
    '-D', `payload=${args.payload}`,
    '-D', `headers=${BASELINE_HEADERS_JSON}`,
    ...(args.logPrefix ? ['-l', `--log-prefix=${args.logPrefix}`] : []),
    args.databaseUrl, // libpq expands a connection URI given as the database name
  ];
}

export interface PgbenchOutput {
  tps: number;
  latencyAverageMs: number;
  transactions: number;
  failed: number;
  initialConnectionMs?: number;
  clients?: number;
  threads?: number;
}

/** Reads pgbench's summary (PostgreSQL 15: `tps = 4863.52 (without initial connection time)`, `latency average = 0.822 ms`, …). */
export function parsePgbenchOutput(text: string): PgbenchOutput {
  const number = (pattern: RegExp): number | undefined => {
    const match = pattern.exec(text);
    return match ? Number(match[1]) : undefined;
  };
  const tps = number(/^tps = ([0-9.]+)/m);
  const transactions = number(/^number of transactions actually processed: (\d+)/m);
  if (tps === undefined || transactions === undefined) throw new Error(`pgbench output without tps / transactions:\n${text.slice(-2000)}`);
  return {
    tps,
    latencyAverageMs: number(/^latency average = ([0-9.]+) ms/m) ?? 0,
    transactions,
    failed: number(/^number of failed transactions: (\d+)/m) ?? 0,
    initialConnectionMs: number(/^initial connection time = ([0-9.]+) ms/m),
    clients: number(/^number of clients: (\d+)/m),
    threads: number(/^number of threads: (\d+)/m),
  };
}

/** Per-transaction log lines (`client_id transaction_no time_us script_no epoch_s epoch_us`), one entry per transaction. */
export interface TransactionLog {
  /** Latency of each transaction, ms. */
  latenciesMs: Float64Array;
  /** When each transaction completed, ms since the epoch. */
  completedAtMs: Float64Array;
  /** Lines whose time was not a number (`failed`, `skipped`). */
  notCompleted: number;
}

export function parseTransactionLog(texts: string[]): TransactionLog {
  const latencies: number[] = [];
  const completed: number[] = [];
  let notCompleted = 0;
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const fields = line.split(' ');
      const latencyUs = Number(fields[2]);
      const epochS = Number(fields[4]);
      const epochUs = Number(fields[5]);
      if (fields.length < 6 || !Number.isFinite(latencyUs) || !Number.isFinite(epochS) || !Number.isFinite(epochUs)) {
        notCompleted++;
        continue;
      }
      latencies.push(latencyUs / 1000);
      completed.push(epochS * 1000 + epochUs / 1000);
    }
  }
  return { latenciesMs: Float64Array.from(latencies), completedAtMs: Float64Array.from(completed), notCompleted };
}

/** The log files pgbench wrote for `<dir>/<prefix>` (`<prefix>.<pid>` and, with -j > 1, `<prefix>.<pid>.<thread>`). */
export function readTransactionLogFiles(dir: string, prefix: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith(`${prefix}.`))
    .map((name) => readFileSync(path.join(dir, name), 'utf8'));
}

/** Transactions that completed within [fromMs, toMs]. */
export function countCompletedBetween(log: TransactionLog, fromMs: number, toMs: number): number {
  let n = 0;
  for (const at of log.completedAtMs) if (at >= fromMs && at <= toMs) n++;
  return n;
}

/** `BENCH_PGBENCH`, else `pgbench` on PATH, else the newest /usr/lib/postgresql/<version>/bin/pgbench. */
export function findPgbench(env: NodeJS.ProcessEnv): string | undefined {
  if (env.BENCH_PGBENCH) return existsSync(env.BENCH_PGBENCH) ? env.BENCH_PGBENCH : undefined;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'pgbench'))) return path.join(dir, 'pgbench');
  }
  try {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const candidate = `/usr/lib/postgresql/${version}/bin/pgbench`;
      if (existsSync(candidate)) return candidate;
    }
  } catch {
    // no PostgreSQL installed here
  }
  return undefined;
}
