import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { Redis } from 'ioredis';
import { BodyMemoryBudget } from '../../services/ingress/ingest/body-memory-budget.js';
import { EventWriter } from '../../services/ingress/ingest/event-writer.js';
import { WebhookReceiver } from '../../services/ingress/ingest/webhook-receiver.js';
import { webhookRouter } from '../../services/ingress/ingest/webhook-router.js';
import { createProviderRegistry } from '../../services/ingress/verification/provider-registry.js';
import { createHttpApp } from '../../services/runtime/http-app.js';
import { WebhookFastPath } from '../../services/runtime/webhook-fast-path.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { eventsReceived } from '../../services/shared/metrics/metrics.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

/**
 * The ingress's budget for bodies being read (BodyMemoryBudget), on both paths: a body that would pass it is answered
 * 503 with Retry-After (outcome `overloaded`), and whatever ends a body (its end, its refusal, the client going away,
 * the request timing out) gives its bytes back, so genuine webhooks go through again once the stalled ones are gone.
 * Small limits here: 32 KiB bodies, a 100 KiB budget; a stalled gzip body of 32 KiB inflated holds 96 KiB of it
 * (its inflated bytes and its decoder's 64 KiB).
 */
const SECRET = 'whsec_body_budget_test';
const MAX_BODY_BYTES = 32 * 1024;
const budget = new BodyMemoryBudget(100 * 1024);
let db: TestDatabase;
let ns: TestQueueNamespace;
let redis: Redis;
let queue: EventQueue;
let server: Server;
let url: string;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  queue = new EventQueue({ connection: redis, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger: createLogger('queue') });
  const providers = createProviderRegistry({ stripeSecrets: [SECRET], githubSecrets: [], toleranceSeconds: 300 });
  const writer = new EventWriter({ pool: db.pool });
  const receiver = new WebhookReceiver({ writer, queue, logger: createLogger('ingress') });
  const app = createHttpApp({
    logger: createLogger('http'),
    routers: [webhookRouter({ receiver, providers, writer, queue, maxBodyBytes: MAX_BODY_BYTES, verificationFailureLimitPerMinute: 100, logger: createLogger('ingress'), bodyBudget: budget })],
    health: { checks: {}, readinessChecks: [], maxHeapMb: 1024, isShuttingDown: () => false },
  });
  const listener = new WebhookFastPath({ providers, receiver, maxBodyBytes: MAX_BODY_BYTES, fallback: app, isTerminating: () => false, logger: createLogger('http'), bodyBudget: budget }).listener;
  // A request must be whole within 2 s here (30 s in the service), checked every 100 ms.
  server = createServer({ requestTimeout: 2000, connectionsCheckingInterval: 100 }, listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  server?.closeAllConnections();
  server?.close();
  await queue?.close();
  redis?.disconnect();
  await ns?.cleanup();
  await db?.drop();
});

/** Opens a connection that sends a webhook's headers and `sent` of its body, then nothing more. */
function stall(headers: string, sent: Buffer): net.Socket {
  const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.on('error', () => undefined);
  sockets.push(socket);
  socket.write(`POST /webhooks/stripe HTTP/1.1\r\nHost: ingress\r\nContent-Type: application/json\r\nStripe-Signature: t=1,v1=00\r\n${headers}\r\n`);
  socket.write(sent);
  return socket;
}

/** A gzip body inflating to MAX_BODY_BYTES, all but its trailer sent: the body never ends. */
function stalledGzipBody(): net.Socket {
  const inflated = gzipSync(Buffer.alloc(MAX_BODY_BYTES, 0x20));
  return stall(`Content-Encoding: gzip\r\nContent-Length: ${inflated.length + 100}\r\n`, inflated.subarray(0, inflated.length - 8));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (held: ${budget.heldBytes} bytes)`);
    await delay(20);
  }
}

const overloaded = async (): Promise<number> => (await eventsReceived.get()).values.find((value) => value.labels.provider === 'stripe' && value.labels.outcome === 'overloaded')?.value ?? 0;

async function sendGzip(id: string): Promise<Response> {
  const request = signedStripeRequest(SECRET, { id });
  return fetch(`${url}/webhooks/stripe`, { method: 'POST', body: gzipSync(request.body), headers: { ...request.headers, 'content-encoding': 'gzip' } });
}

/** A webhook without encoding, padded to `size` bytes: the direct path's. */
async function sendPlain(id: string, size: number): Promise<Response> {
  const request = signedStripeRequest(SECRET, { id, padding: '' });
  const padded = signedStripeRequest(SECRET, { id, padding: 'x'.repeat(size - request.body.length) });
  return fetch(`${url}/webhooks/stripe`, { method: 'POST', body: padded.body, headers: padded.headers });
}

/**
 * A webhook without encoding declared `declared` bytes long, of which `sent` are sent: a body still arriving, the direct
 * path's. Its first answer (the connection is closed after it, or by the client once it has come).
 */
async function sendPartOfPlain(sent: number, declared: number): Promise<{ status: string; headers: Record<string, string>; body: string }> {
  const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  sockets.push(socket);
  let raw = '';
  socket.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  socket.write(`POST /webhooks/stripe HTTP/1.1\r\nHost: ingress\r\nContent-Type: application/json\r\nStripe-Signature: t=1,v1=00\r\nContent-Length: ${declared}\r\n\r\n`);
  socket.write(Buffer.alloc(sent, 0x20));
  const answered = () => {
    const end = raw.indexOf('\r\n\r\n');
    const length = /\r\ncontent-length: (\d+)/i.exec(raw)?.[1];
    return end !== -1 && length !== undefined && raw.length >= end + 4 + Number(length);
  };
  await until(answered, 'the answer to a body still arriving');
  socket.destroy();
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const [status = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { status, headers, body };
}

describe('the body budget: stalled bodies hold it, genuine ones still arriving are refused 503 while it is spent, and all of it comes back', () => {
  it('refuses a gzip body and a direct-path body still arriving past the budget with 503 and Retry-After, counted overloaded', async () => {
    const attacker = stalledGzipBody();
    await until(() => budget.heldBytes >= 96 * 1024, 'the stalled gzip body to inflate');
    const before = await overloaded();

    const gzipped = await sendGzip('evt_budget_gzip_refused');
    expect(gzipped.status).toBe(503);
    expect(gzipped.headers.get('retry-after')).toBe('5');
    expect(await gzipped.json()).toMatchObject({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', path: '/webhooks/stripe' });

    const plain = await sendPartOfPlain(8 * 1024, 16 * 1024);
    expect(plain.status).toBe('HTTP/1.1 503 Service Unavailable');
    expect(plain.headers['retry-after']).toBe('5');
    expect(JSON.parse(plain.body)).toMatchObject({ statusCode: 503, code: 'SERVICE_UNAVAILABLE' });
    expect((await overloaded()) - before).toBe(2);

    // A body that has arrived whole is not held against the budget (refusing it would free nothing): taken, however
    // large, while bodies still arriving are refused.
    expect((await sendPlain('evt_budget_small', 1024)).status).toBe(202);
    expect((await sendPlain('evt_budget_whole', 8 * 1024)).status).toBe(202);
    expect((await overloaded()) - before).toBe(2);

    // The client goes away: its bytes come back, and genuine webhooks go through again.
    attacker.destroy();
    await until(() => budget.heldBytes === 0, 'the aborted body to give its bytes back');
    expect((await sendGzip('evt_budget_gzip_ok')).status).toBe(202);
    expect((await sendPlain('evt_budget_plain_ok', 8 * 1024)).status).toBe(202);
    expect(budget.heldBytes).toBe(0);
  });

  it('gives back what a stalled body held when its request times out (gzip, chunked, and the direct path)', async () => {
    stalledGzipBody();
    stall('Transfer-Encoding: chunked\r\n', Buffer.from(`800\r\n${'x'.repeat(2048)}\r\n`));
    stall(`Content-Length: ${MAX_BODY_BYTES}\r\n`, Buffer.alloc(1024, 0x20));
    // All three held at once (99 KiB of the 100), until the 2 s request timeout ends them.
    await until(() => budget.heldBytes === 96 * 1024 + 2048 + 1024, 'the stalled bodies to be read');
    await until(() => budget.heldBytes === 0, 'the timed-out bodies to give their bytes back');
  });

  it('gives back what an over-large gzip body held when it is refused 413', async () => {
    const inflated = gzipSync(Buffer.alloc(MAX_BODY_BYTES + 1, 0x20));
    const response = await fetch(`${url}/webhooks/stripe`, { method: 'POST', body: inflated, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'stripe-signature': 't=1,v1=00' } });
    expect(response.status).toBe(413);
    await until(() => budget.heldBytes === 0, 'the refused body to give its bytes back');
  });
});
