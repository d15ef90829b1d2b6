import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import { makeEvents, stripeSignatureHeader } from '../support/provider-simulator.js';
import { ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack, reportFigures, settle, STRIPE_SECRET } from './support/fault-stack.js';
import { RawHttpConnection, type RawResponse } from './support/raw-http.js';
import { RecordingDestination } from './support/recording-destination.js';

const destination = new RecordingDestination('warehouse');
let stack: FaultStack;
let ingressA: ServiceProcess;
let ingressB: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { warehouse: { destination } },
    routes: [{ provider: 'stripe', to: ['warehouse'] }],
  });
  [ingressA, ingressB] = await Promise.all([stack.start('ingress'), stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  await stack?.teardown();
});

/** A signed webhook held half-sent on its own connection across the signal, with a readiness probe pipelined behind it. */
async function halfSentWebhook(port: number) {
  const body = JSON.stringify({ id: 'evt_sigterm_in_flight', object: 'event', type: 'invoice.paid', data: { object: { held: true } } });
  const connection = await RawHttpConnection.connect(port);
  connection.write(
    `POST /webhooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Stripe-Signature: ${stripeSignatureHeader(body, STRIPE_SECRET)}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Expect: 100-continue\r\n\r\n`,
  );
  // `100 Continue`: the server has the request's headers and waits for its body, so the request is in flight when the
  // signal comes. A fixed 100 ms did not make sure of it on a loaded machine: a connection the server had not read
  // yet was idle to the drain (closed at once) or not even accepted, and the held webhook got no answer.
  const invited = await connection.readResponse();
  if (invited.status !== 100) throw new Error(`expected 100 Continue to the held webhook, got ${invited.status}`);
  connection.write(body.slice(0, 20));
  return {
    async finish(): Promise<{ webhook: RawResponse; ready: RawResponse; closedAfter: boolean }> {
      connection.write(`${body.slice(20)}GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      const webhook = await connection.readResponse();
      const ready = await connection.readResponse();
      return { webhook, ready, closedAfter: await connection.waitClosed(3000) };
    },
  };
}

describe('SIGTERM on an ingress under load (two ingress processes; the terminated one is started again)', () => {
  it('turns readiness 503, finishes every request it had accepted, exits 0, and loses nothing', async () => {
    const startedAt = Date.now();
    const events = makeEvents('ingress_term', 300);
    const portA = ingressA.port;
    const terminated = ingressA;
    const provider = stack.provider(() => [ingressA.baseUrl, ingressB.baseUrl]);
    const shutdown = { exit: { code: null as number | null, signal: null as string | null }, drainMs: 0, held: undefined as Awaited<ReturnType<Awaited<ReturnType<typeof halfSentWebhook>>['finish']>> | undefined };

    const [outcomes] = await Promise.all([
      provider.run(events, { ratePerSecond: 50, concurrency: 16 }),
      (async () => {
        await delay(2000);
        const held = await halfSentWebhook(portA);
        const signalledAt = Date.now();
        terminated.signal('SIGTERM');
        // The rest of the body, and the probe behind it, once the drain has begun (readiness 503, the sweep of idle
        // connections done): after a fixed 300 ms a loaded machine could still be on its way to the signal, and the
        // probe answered 200.
        await waitFor('the drain to begin', () => terminated.jsonLogs().some((line) => line.message === 'shutting down: readiness is now 503, draining'));
        shutdown.held = await held.finish();
        shutdown.exit = await terminated.exited(15_000);
        shutdown.drainMs = Date.now() - signalledAt;
        // The replacement pod comes up on the same address.
        ingressA = await stack.start('ingress', {}, portA);
      })(),
    ]);
    await provider.close();

    const figures = await settle({ scenario: 'ingress SIGTERM under load (2 ingress)', stack, events, outcomes, provider, startedAt });
    reportFigures(figures);
    console.log(`ingress drain: ${shutdown.drainMs} ms, exit ${JSON.stringify(shutdown.exit)}; answers: ${JSON.stringify(provider.summary())}`);
    if (figures.lost > 0 || figures.unfinished > 0) console.log(await stack.diagnose());
    expect(stack.unhandled()).toEqual([]);

    // The request the server was reading when the signal came was finished, stored, and answered in full;
    // readiness asked after the signal said 503; then the connection was closed, not kept alive.
    expect(shutdown.held!.webhook.status).toBe(202);
    const heldId = (JSON.parse(shutdown.held!.webhook.body) as { id: string }).id;
    const { rows } = await stack.db.pool.query('SELECT external_id FROM webhook_events WHERE id = $1', [heldId]);
    expect(rows).toEqual([{ external_id: 'evt_sigterm_in_flight' }]);
    expect(shutdown.held!.ready.status).toBe(503);
    expect(JSON.parse(shutdown.held!.ready.body)).toMatchObject({ status: 'error', error: { shutdown: { status: 'down' } } });
    expect(shutdown.held!.closedAfter).toBe(true);
    // Graceful exit within SHUTDOWN_TIMEOUT_MS (a forced exit is code 1).
    expect(shutdown.exit).toEqual({ code: 0, signal: null });
    const messages = terminated.jsonLogs().map((line) => line.message);
    expect(messages.indexOf('shutting down: readiness is now 503, draining')).toBeGreaterThanOrEqual(0);
    expect(messages.indexOf('shutdown complete')).toBeGreaterThan(messages.indexOf('shutting down: readiness is now 503, draining'));

    // Every answer was a complete 2xx/503 or a connection error the provider retried; every 2xx has its row.
    expect(figures).toMatchObject({ answered5xxOther: 0, hangs: 0, acceptedWithoutRow: 0 });
    expect(figures).toMatchObject({ sent: events.length, accepted: events.length, stored: events.length, delivered: events.length, lost: 0, unfinished: 0 });
    expect(figures.deliveredTwice).toBe(0);
  });
});
