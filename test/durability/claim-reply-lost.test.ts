/**
 * The worker sends its claim again on a fresh connection when the connection broke under it (withReconnects), as it
 * does its finish. The finish is written to be sent again (FINISH_AGAIN: a finish that committed before its answer was
 * lost is recognised and records nothing twice). The claim is not: a claim that committed before its answer was lost
 * is claimed a second time, which counts a second attempt for the one attempt made.
 *
 * Real PostgreSQL behind a TCP proxy that cuts the connection right after PostgreSQL answered the claim's UPDATE
 * (so it committed) and before the answer reaches the worker: a connection lost at that instant (a failover, a
 * network blip, a killed session).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import net from 'node:net';
import type pg from 'pg';
import { createPool } from '../../services/shared/database/create-pool.js';
import { ProcessingStore } from '../../services/worker/processing/processing-store.js';
import { createTestDatabase, closePool, type TestDatabase } from '../support/test-database.js';

jest.setTimeout(60_000);

/** Forwards to PostgreSQL; once armed, drops the first answer that completes a statement and cuts that connection. */
class ReplyCuttingProxy {
  armed = false;
  cuts = 0;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  constructor(private readonly host: string, private readonly port: number) {}
  async start(): Promise<number> {
    this.server = net.createServer((client) => {
      const upstream = net.connect({ host: this.host, port: this.port });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => this.sockets.delete(socket));
      }
      client.on('data', (chunk) => upstream.write(chunk));
      upstream.on('data', (chunk: Buffer) => {
        // CommandComplete 'C' "UPDATE n" (or "SELECT n": the claim is an UPDATE inside a WITH, whose tag is its outer
        // SELECT's) followed by ReadyForQuery: the statement's implicit transaction has committed.
        if (this.armed && /(?:UPDATE|SELECT) \d+\0/.test(chunk.toString('latin1')) && chunk.includes(Buffer.from('Z\0\0\0\x05', 'latin1'))) {
          this.armed = false;
          this.cuts++;
          upstream.destroy();
          client.destroy();
          return;
        }
        client.write(chunk);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server!.address() as net.AddressInfo).port;
  }
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

let db: TestDatabase;
let proxy: ReplyCuttingProxy;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  const target = new URL(db.url);
  proxy = new ReplyCuttingProxy(target.hostname, Number(target.port || 5432));
  const port = await proxy.start();
  const viaProxy = new URL(db.url);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(port);
  pool = createPool({ url: viaProxy.toString(), size: 2, applicationName: 'webhooks-claim-reply-lost' });
  pool.on('error', () => undefined);
});

afterAll(async () => {
  if (pool) await closePool(pool);
  await proxy?.stop();
  await db?.drop();
});

describe('a claim whose answer is lost after it committed', () => {
  it('is sent again without counting the attempt twice', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
       VALUES ('stripe', 'evt_claim_lost', 'invoice.paid', '{}', '\\x7b7d', 'application/json', 'PENDING') RETURNING id`,
    );
    const id = rows[0]!.id;
    const store = new ProcessingStore(pool);

    proxy.armed = true;
    const claimed = await store.claim(id, 0);
    expect(proxy.cuts).toBe(1); // the first claim committed, and its answer was lost

    // One attempt is being made: the claim says so, and so does the event.
    const event = await db.pool.query<{ status: string; attempts: number }>('SELECT status, attempts FROM webhook_events WHERE id = $1', [id]);
    expect({ claimedAttempt: claimed?.attempts, event: event.rows[0] }).toEqual({ claimedAttempt: 1, event: { status: 'PROCESSING', attempts: 1 } });
  });

  it("does not make a FAILED event's 7th attempt its last (JOB_ATTEMPTS 8: final when attempts >= 8)", async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, attempts)
       VALUES ('stripe', 'evt_claim_lost_6', 'invoice.paid', '{}', '\\x7b7d', 'application/json', 'FAILED', 6) RETURNING id`,
    );
    const store = new ProcessingStore(pool);
    proxy.armed = true;
    const claimed = await store.claim(rows[0]!.id, 0);
    expect(proxy.cuts).toBe(2);
    // attempt 7 of 8; the lost answer made it 8, so EventProcessor dead-letters the event on this attempt's failure
    expect(claimed?.attempts).toBe(7);
  });
});
