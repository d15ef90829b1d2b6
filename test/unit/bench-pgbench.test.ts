import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { createStripeBodyFactory } from '../../scripts/bench/payload.js';
import {
  BASELINE_HEADERS_JSON,
  countCompletedBetween,
  findPgbench,
  parsePgbenchOutput,
  parseTransactionLog,
  pgbenchArgs,
  pgbenchPayload,
  pgbenchScript,
} from '../../scripts/bench/pgbench.js';

// pgbench 15.20's summary, as printed by a run of pgbenchScript() on this repository's schema.
const OUTPUT = `transaction type: /tmp/webhooks-bench-pgbench-x/p.sql
scaling factor: 1
query mode: prepared
number of clients: 64
number of threads: 2
maximum number of tries: 1
duration: 8 s
number of transactions actually processed: 24616
number of failed transactions: 0 (0.000%)
latency average = 20.743 ms
initial connection time = 61.412 ms
tps = 3085.393211 (without initial connection time)
`;

describe('bench pgbench baseline', () => {
  it('inserts the same row as pg-load.ts, a unique external id per transaction, one statement', () => {
    const script = pgbenchScript('evt_abcd1234', 'p');
    expect(script.split('\n')[0]).toBe('\\set n :n + 1');
    expect(script).toContain('INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, headers, correlation_id, trace_id, traceparent)');
    expect(script).toContain(`VALUES ('stripe', 'evt_abcd1234_p_' || :client_id || '_' || :n, 'invoice.paid', :payload, convert_to(:payload, 'UTF8'), 'application/json', :headers,`);
    expect(script).toMatch(/ON CONFLICT \(provider, external_id\) DO NOTHING\s+RETURNING id;\n$/);
    expect(script.match(/;/g)).toHaveLength(1);
    expect(() => pgbenchScript("evt_'; DROP", 'p')).toThrow(/prefix/);
  });

  it('sends a payload of the size pg-load.ts sends, as a bound parameter', () => {
    const payload = pgbenchPayload(2048, 'evt_abcd1234');
    expect(payload).toBe(createStripeBodyFactory(2048)('evt_abcd1234_b_10001', 10_001));
    expect(Buffer.byteLength(payload)).toBeGreaterThan(2000);
    expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(2048);
    expect(JSON.parse(payload)).toMatchObject({ object: 'event', type: 'charge.succeeded' });
    expect(JSON.parse(BASELINE_HEADERS_JSON)).toEqual({ 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)', 'content-type': 'application/json' });
  });

  it('runs pgbench -n -c <connections> -j 2 -T <seconds> -M prepared -f <script>, logging each transaction', () => {
    const args = pgbenchArgs({ connections: 64, threads: 2, durationSec: 7.6, scriptPath: '/tmp/p.sql', payload: '{"a":1}', databaseUrl: 'postgresql://postgres@127.0.0.1:5432/db', logPrefix: '/tmp/tx' });
    expect(args).toEqual([
      '-n', '-c', '64', '-j', '2', '-T', '8', '-M', 'prepared', '-f', '/tmp/p.sql',
      '-D', 'n=0', '-D', 'payload={"a":1}', '-D', `headers=${BASELINE_HEADERS_JSON}`,
      '-l', '--log-prefix=/tmp/tx',
      'postgresql://postgres@127.0.0.1:5432/db',
    ]);
    const short = pgbenchArgs({ connections: 1, threads: 2, durationSec: 0.2, scriptPath: 's', payload: '{}', databaseUrl: 'db' });
    expect(short.slice(0, 7)).toEqual(['-n', '-c', '1', '-j', '1', '-T', '1']);
    expect(short).not.toContain('-l');
  });

  it("reads pgbench's summary", () => {
    expect(parsePgbenchOutput(OUTPUT)).toEqual({ tps: 3085.393211, latencyAverageMs: 20.743, transactions: 24616, failed: 0, initialConnectionMs: 61.412, clients: 64, threads: 2 });
    expect(() => parsePgbenchOutput('pgbench: error: connection to server failed')).toThrow(/tps/);
  });

  it('reads the per-transaction logs of every thread: latency and completion time of each', () => {
    const log = parseTransactionLog([
      '0 1 2596 0 1796058435 201122\n1 1 2297 0 1796058435 201390\n0 2 652 0 1796058435 201785\n',
      '2 1 2307 0 1796058436 1370\n3 1 failed 0 1796058436 1596\n',
    ]);
    expect(Array.from(log.latenciesMs)).toEqual([2.596, 2.297, 0.652, 2.307]);
    expect(log.completedAtMs[0]).toBeCloseTo(1796058435201.122, 3);
    expect(log.notCompleted).toBe(1);
    expect(countCompletedBetween(log, 1796058435201.2, 1796058436000)).toBe(2);
    expect(countCompletedBetween(log, 0, Number.MAX_SAFE_INTEGER)).toBe(4);
  });

  it('finds pgbench through BENCH_PGBENCH or PATH; a BENCH_PGBENCH that does not exist means none', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-pgbench-test-'));
    try {
      const fake = path.join(dir, 'pgbench');
      writeFileSync(fake, '#!/bin/sh\n', { mode: 0o755 });
      expect(findPgbench({ PATH: `/nonexistent${path.delimiter}${dir}` })).toBe(fake);
      expect(findPgbench({ BENCH_PGBENCH: fake, PATH: '' })).toBe(fake);
      // An explicit path that does not exist is not silently replaced by another pgbench.
      expect(findPgbench({ BENCH_PGBENCH: path.join(dir, 'missing'), PATH: dir })).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
