import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { EventWriter } from '../../services/ingress/ingest/event-writer.js';
import { WebhookReceiver } from '../../services/ingress/ingest/webhook-receiver.js';
import { webhookRouter } from '../../services/ingress/ingest/webhook-router.js';
import { createProviderRegistry } from '../../services/ingress/verification/provider-registry.js';
import { createHttpApp } from '../../services/runtime/http-app.js';
import { WebhookFastPath } from '../../services/runtime/webhook-fast-path.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import type { RequestContext } from '../../services/shared/logging/request-context.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

const SECRET = 'whsec_fast_path_test';
let db: TestDatabase;
let ns: TestQueueNamespace;
let redis: Redis;
let queue: EventQueue;
const servers: Server[] = [];

/** The ingress's HTTP surface over `pool`: the direct path in front of Express (as service.ts serves it), or Express alone. */
async function serve(pool: pg.Pool, direct: boolean): Promise<{ url: string; handedToExpress: () => number; handedContexts: (RequestContext | undefined)[] }> {
  const providers = createProviderRegistry({ stripeSecrets: [SECRET], githubSecrets: [], toleranceSeconds: 300 });
  const writer = new EventWriter({ pool });
  const receiver = new WebhookReceiver({ writer, queue, logger: createLogger('ingress') });
  const app = createHttpApp({
    logger: createLogger('http'),
    routers: [webhookRouter({ receiver, providers, writer, queue, maxBodyBytes: 4096, verificationFailureLimitPerMinute: 100, logger: createLogger('ingress') })],
    health: { checks: {}, readinessChecks: [], maxHeapMb: 1024, isShuttingDown: () => false },
  });
  let handed = 0;
  const handedContexts: (RequestContext | undefined)[] = [];
  const fallback: RequestListener = (req, res) => {
    handed++;
    handedContexts.push((req as { context?: RequestContext }).context);
    app(req, res);
  };
  const listener = direct
    ? new WebhookFastPath({ providers, receiver, maxBodyBytes: 4096, fallback, isTerminating: () => false, logger: createLogger('http') }).listener
    : fallback;
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, handedToExpress: () => handed, handedContexts };
}

/** An answer without what differs between two requests by nature (date, ids, timestamps). */
async function answerOf(response: Response): Promise<{ status: number; headers: Record<string, string>; body: Record<string, unknown> }> {
  const headers = Object.fromEntries(response.headers);
  for (const name of ['date', 'x-correlation-id', 'content-length', 'keep-alive', 'connection']) delete headers[name];
  const body = (await response.json()) as Record<string, unknown>;
  for (const name of ['id', 'timestamp', 'correlationId', 'traceId']) if (name in body) body[name] = typeof body[name];
  return { status: response.status, headers, body };
}

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  queue = new EventQueue({ connection: redis, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger: createLogger('queue') });
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  await queue?.close();
  redis?.disconnect();
  await ns?.cleanup();
  await db?.drop();
});

describe("the webhook route's direct path (no Express)", () => {
  it('takes signed webhooks and answers them exactly as the Express route does (status, headers, body)', async () => {
    const direct = await serve(db.pool, true);
    const express = await serve(db.pool, false);
    const first = signedStripeRequest(SECRET, { id: 'evt_fast_1' });
    const second = signedStripeRequest(SECRET, { id: 'evt_fast_2' });
    const viaDirect = await fetch(`${direct.url}/webhooks/stripe`, { method: 'POST', body: first.body, headers: first.headers });
    const viaExpress = await fetch(`${express.url}/webhooks/stripe`, { method: 'POST', body: second.body, headers: second.headers });
    expect(direct.handedToExpress()).toBe(0);
    expect(viaDirect.headers.get('x-correlation-id')).toBeTruthy();
    expect(await answerOf(viaDirect)).toEqual(await answerOf(viaExpress));
    // A duplicate too.
    const again = await fetch(`${direct.url}/webhooks/stripe`, { method: 'POST', body: first.body, headers: first.headers });
    const againExpress = await fetch(`${express.url}/webhooks/stripe`, { method: 'POST', body: second.body, headers: second.headers });
    expect(await answerOf(again)).toEqual(await answerOf(againExpress));
    expect(again.status).toBe(200);
    expect(direct.handedToExpress()).toBe(0);
  });

  it('hands refused webhooks to the Express route once, which answers them as it always did (verified once)', async () => {
    const direct = await serve(db.pool, true);
    const express = await serve(db.pool, false);
    const forged = { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' };
    const body = JSON.stringify({ id: 'evt_forged', type: 'invoice.paid' });
    const viaDirect = await fetch(`${direct.url}/webhooks/stripe`, { method: 'POST', body, headers: forged });
    const viaExpress = await fetch(`${express.url}/webhooks/stripe`, { method: 'POST', body, headers: forged });
    expect(direct.handedToExpress()).toBe(1);
    expect(viaDirect.status).toBe(401);
    expect(await answerOf(viaDirect)).toEqual(await answerOf(viaExpress));
    // What the direct path does not take at all: other routes, unknown providers, other content types, no length.
    for (const [path, init] of [
      ['/webhooks/nobody', { method: 'POST', body, headers: { 'content-type': 'application/json' } }],
      ['/webhooks/stripe', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }],
      ['/webhooks/stripe?x=1', { method: 'POST', body, headers: forged }],
      ['/health/live', {}],
    ] as const) {
      const before = direct.handedToExpress();
      await (await fetch(`${direct.url}${path}`, init)).text();
      expect({ path, handed: direct.handedToExpress() - before }).toEqual({ path, handed: 1 });
    }
  });

  it('hands a refused webhook over with the context it was received under: one correlation id, what was learned kept', async () => {
    const direct = await serve(db.pool, true);
    const body = JSON.stringify({ id: 'evt_forged_context', type: 'invoice.paid' });
    const answer = await fetch(`${direct.url}/webhooks/stripe`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' } });
    const { correlationId } = (await answer.json()) as { correlationId: string };
    // Before: the hand-over dropped req.context, and Express made a new one (a second correlation id for one request).
    expect(direct.handedContexts).toEqual([expect.objectContaining({ correlationId, provider: 'stripe' })]);
    expect(answer.headers.get('x-correlation-id')).toBe(correlationId);
  });

  it('answers 503 in the contract shape when PostgreSQL cannot be reached, like the Express route', async () => {
    // A "server" that hangs up on every connection: PostgreSQL gone mid-handshake.
    const hangUp = createNetServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => hangUp.listen(0, '127.0.0.1', resolve));
    const deadPool = new pg.Pool({ connectionString: `postgresql://postgres@127.0.0.1:${(hangUp.address() as AddressInfo).port}/none`, connectionTimeoutMillis: 500 });
    deadPool.on('error', () => undefined);
    try {
      const direct = await serve(deadPool, true);
      const express = await serve(deadPool, false);
      const request = signedStripeRequest(SECRET, { id: 'evt_fast_down' });
      const viaDirect = await fetch(`${direct.url}/webhooks/stripe`, { method: 'POST', body: request.body, headers: request.headers });
      const viaExpress = await fetch(`${express.url}/webhooks/stripe`, { method: 'POST', body: request.body, headers: request.headers });
      expect(viaDirect.status).toBe(503);
      expect(direct.handedToExpress()).toBe(0);
      expect(await answerOf(viaDirect)).toEqual(await answerOf(viaExpress));
    } finally {
      await deadPool.end();
      hangUp.close();
    }
  });
});
