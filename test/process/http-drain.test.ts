import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WEBHOOK_OVERHEAD_BYTES } from '../../services/ingress/ingest/store-queue-budget.js';
import { loadConfig } from '../../services/shared/config/config.js';
import { SECRETS } from '../security/support/signers.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { firstHead, metricValue, open, portOf, signedStripeHead } from '../support/raw-http.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/** The HTTP side of the drain on SIGTERM (service.shutdown): the connections open when it begins. */

let db: TestDatabase;
let ns: TestQueueNamespace;
const started: InProcessService[] = [];

const env = () => ({
  SERVICE_ROLE: 'ingress',
  DATABASE_URL: db.url,
  REDIS_URL: ns.redisUrl,
  QUEUE_PREFIX: ns.prefix,
  STRIPE_WEBHOOK_SECRET: SECRETS.stripe,
  MAX_BODY_BYTES: '4096',
  VERIFICATION_FAILURE_LIMIT_PER_MINUTE: '100000',
});

const start = async (extra: Record<string, string> = {}) => {
  const service = await startInProcessService({ ...env(), ...extra });
  started.push(service);
  return service;
};

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
});

/**
 * Resolves once the service has read what was written before it (each write's callback: handed to the kernel), so that
 * a drain begun next finds those requests in flight. A fixed sleep did not: on a loaded machine the test process (the
 * service runs in it) could wake after the sleep with the timer due before the pending reads, and begin the drain on
 * a connection whose request it had not read yet. A round trip to the service on another connection takes several
 * turns of its event loop, each of which reads every socket with data waiting.
 */
async function receivedBy(service: InProcessService, writes: Promise<unknown>[]): Promise<void> {
  await Promise.all(writes);
  await (await fetch(`${service.baseUrl}/health/live`)).arrayBuffer();
  await new Promise((resolve) => setTimeout(resolve, 200));
}

afterAll(async () => {
  for (const service of started) if (!service.service.isShuttingDown()) await service.stop();
  await ns?.cleanup();
  await db?.drop();
});

describe('drain on SIGTERM (service.shutdown)', () => {
  it('answers a request that was in flight when the drain began with `Connection: close`', async () => {
    const service = await start();
    const answers: Record<string, string> = {};
    const body = (n: string) => JSON.stringify({ id: `evt_drain_${n}_${Date.now()}`, type: 'invoice.paid', data: {} });
    const inFlight = ['/webhooks/stripe', '/webhooks/stripe/'].map((path) => {
      const b = body(String(path.length));
      const connection = open(portOf(service));
      const sent = new Promise((resolve) => connection.socket.write(signedStripeHead(path, b, SECRETS.stripe) + b.slice(0, 10), resolve));
      return { path, b, sent, ...connection };
    });
    await receivedBy(service, inFlight.map((request) => request.sent));
    const drained = service.stop();
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const request of inFlight) request.socket.write(request.b.slice(10));
    for (const request of inFlight) {
      await request.waitFor(() => request.state.raw.includes('\r\n\r\n'), 3000);
      const head = request.state.raw.split('\r\n\r\n')[0]!;
      answers[request.path] = `${head.split('\r\n')[0]} / Connection: ${/\r\nConnection: ([^\r]*)/i.exec(head)?.[1]}`;
      request.socket.destroy();
    }
    await drained;
    // Before the fix both said `Connection: keep-alive`, and the drain closed the connection a moment later (the
    // idle sweep): a client that reused it raced the close (ECONNRESET on a POST it cannot safely retry).
    expect(answers).toEqual({
      '/webhooks/stripe': 'HTTP/1.1 202 Accepted / Connection: close',
      '/webhooks/stripe/': 'HTTP/1.1 202 Accepted / Connection: close',
    });
  });

  it('answers, before closing, a request already pipelined behind the one in flight when the drain began', async () => {
    const service = await start();
    const body = JSON.stringify({ id: `evt_drain_pipelined_${Date.now()}`, type: 'invoice.paid', data: {} });
    const { socket, state, waitFor } = open(portOf(service));
    const sent = new Promise((resolve) => socket.write(signedStripeHead('/webhooks/stripe', body, SECRETS.stripe) + body.slice(0, 10), resolve));
    await receivedBy(service, [sent]);
    const drained = service.stop();
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.write(`${body.slice(10)}GET /health/ready HTTP/1.1\r\nHost: x\r\n\r\n`);
    const closed = await waitFor(() => state.closed, 5000);
    socket.destroy();
    await drained;
    const answers = state.raw.split(/(?=HTTP\/1\.1 \d{3} )/).map((answer) => `${firstHead(answer).status} / Connection: ${firstHead(answer).headers.connection}`);
    // The last answer closes the connection; the webhook's, with the probe already read behind it, does not.
    expect({ closed, answers }).toEqual({
      closed: true,
      answers: ['HTTP/1.1 202 Accepted / Connection: keep-alive', 'HTTP/1.1 503 Service Unavailable / Connection: close'],
    });
  });

  it('is not held open by a client that never finishes its request body (before: until SHUTDOWN_TIMEOUT_MS forced exit 1)', async () => {
    const service = await start();
    const body = JSON.stringify({ id: 'evt_drain_stalled', type: 'invoice.paid', data: {} });
    const { socket } = open(portOf(service));
    const sent = new Promise((resolve) => socket.write(signedStripeHead('/webhooks/stripe', body, SECRETS.stripe) + body.slice(0, 10), resolve));
    await receivedBy(service, [sent]);
    // The default SHUTDOWN_TIMEOUT_MS is 25 s and requestTimeout 30 s (enforced on a 30 s check interval): the drain
    // waited for the stalled upload until the forced exit, skipping the writer drain, the queue close and the trace flush.
    // So the bound is the forced exit's: the drain must end before it (it takes the 5 s grace, and a moment). A bound
    // of 10 s was a speed figure, not what the fix is about: a loaded machine may take longer and still be right.
    const finished = await Promise.race([
      service.stop().then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), loadConfig({ ...env(), PORT: '0' }).shutdownTimeoutMs)),
    ]);
    socket.destroy();
    if (!finished) await service.stop();
    expect({ finished }).toEqual({ finished: true });
  }, 70_000);

  it('closes, after its grace period, connections still sending a request: a body on the Express route, headers never ended', async () => {
    // SHUTDOWN_TIMEOUT_MS 2500: a grace of 500 ms.
    const service = await start({ SHUTDOWN_TIMEOUT_MS: '2500' });
    const body = JSON.stringify({ id: 'evt_drain_stalled_express', type: 'invoice.paid', data: {} });
    const stalledBody = open(portOf(service));
    const bodySent = new Promise((resolve) => stalledBody.socket.write(signedStripeHead('/webhooks/stripe/', body, SECRETS.stripe) + body.slice(0, 10), resolve));
    const stalledHeaders = open(portOf(service));
    const headersSent = new Promise((resolve) => stalledHeaders.socket.write('POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: applic', resolve));
    // Read by the service before the drain begins: a connection it has read nothing from is idle, closed at once,
    // and the test would pass without the grace period having cut anything.
    await receivedBy(service, [bodySent, headersSent]);
    const finished = await Promise.race([service.stop().then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 8000))]);
    // The service destroyed both before its drain ended; this process sees the close a moment later.
    await stalledBody.waitFor(() => stalledBody.state.closed && stalledHeaders.state.closed, 5000);
    const closed = { body: stalledBody.state.closed, headers: stalledHeaders.state.closed };
    stalledBody.socket.destroy();
    stalledHeaders.socket.destroy();
    if (!finished) await service.stop();
    expect({ finished, closed }).toEqual({ finished: true, closed: { body: true, headers: true } });
  }, 40_000);

  it('waits past the grace period for a request being answered (its insert held by a lock), and answers it', async () => {
    const service = await start({ SHUTDOWN_TIMEOUT_MS: '2500' }); // a grace of 500 ms
    const lock = await db.pool.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE');
      const answers: Record<string, ReturnType<typeof open>> = {};
      let charged = 0;
      for (const path of ['/webhooks/stripe', '/webhooks/stripe/']) {
        const body = JSON.stringify({ id: `evt_drain_locked_${path.length}_${Date.now()}`, type: 'invoice.paid', data: {} });
        answers[path] = open(portOf(service));
        answers[path].socket.write(signedStripeHead(path, body, SECRETS.stripe) + body);
        charged += Buffer.byteLength(body) + WEBHOOK_OVERHEAD_BYTES;
      }
      // Both requests read, verified and handed to the writer (its insert waits on the lock) before the drain begins.
      // A fixed 300 ms did not make sure of it on a loaded machine: a connection whose request the service had not
      // read yet was idle to the drain, closed unanswered, and the drain did not wait for anything.
      await waitFor('both webhooks waiting to be stored', async () => (await metricValue(service, /^webhook_ingress_store_queue_bytes /)) === charged);
      let stopped = false;
      const drained = service.stop().then(() => (stopped = true));
      await new Promise((resolve) => setTimeout(resolve, 1500)); // three times the grace
      const stoppedWhileLocked = stopped;
      await lock.query('COMMIT');
      await drained;
      const statuses: Record<string, string> = {};
      for (const [path, { state, waitFor, socket }] of Object.entries(answers)) {
        await waitFor(() => state.raw.includes('\r\n\r\n'), 3000);
        const { status, headers } = firstHead(state.raw);
        statuses[path] = `${status} / Connection: ${headers.connection}`;
        socket.destroy();
      }
      expect({ stoppedWhileLocked, statuses }).toEqual({
        stoppedWhileLocked: false,
        statuses: { '/webhooks/stripe': 'HTTP/1.1 202 Accepted / Connection: close', '/webhooks/stripe/': 'HTTP/1.1 202 Accepted / Connection: close' },
      });
    } finally {
      await lock.query('ROLLBACK').catch(() => undefined);
      lock.release();
    }
  }, 40_000);
});
