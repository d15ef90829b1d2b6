import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, describe, expect, it } from '@jest/globals';
import { startRoutedService } from '../support/routed-service.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Many receivers close an idle keep-alive connection after a few seconds without announcing it in a `Keep-Alive:
 * timeout=N` answer header: uvicorn (FastAPI) after 5 s, gunicorn 2 s, Puma and Tomcat 20 s. The HTTP forwarder's
 * pools keep an idle connection for 30 s (`keepAliveTimeout: 30_000` in HttpForwarder.dispatcherFor, where undici's
 * own default is 4 s) when the destination gives no hint. So the next event after a quiet spell of 5–30 s is written
 * onto a connection the receiver has already closed, whenever the receiver's FIN is still on its way (any network
 * latency makes that a window, not a point): the attempt fails with `UND_ERR_SOCKET: other side closed`, is counted
 * as a failed attempt (and against the destination's circuit), and the event waits out a backoff for nothing.
 *
 * Here the receiver closes connections idle for 5 s (uvicorn's default) and its FIN takes FIN_IN_FLIGHT_MS to arrive
 * (emulated: it stops taking requests on the connection at 5 s, and resets any that comes, but sends the FIN only
 * later). Observed: the event sent 5 s after the previous one fails its first attempt with
 * `network_error` "UND_ERR_SOCKET: other side closed" and is delivered on its second.
 */
const SECRET = 'whsec_idle_keepalive';
/** The receiver's idle timeout (uvicorn's default), with no Keep-Alive header telling the client. */
const IDLE_MS = 5000;
/** How long the receiver's FIN is on its way after it closed the connection (network latency, emulated). */
const FIN_IN_FLIGHT_MS = 1500;

interface ConnectionState {
  closed: boolean;
  timer?: NodeJS.Timeout;
}

/** A hint-less keep-alive receiver that closes connections idle for IDLE_MS, its FIN arriving FIN_IN_FLIGHT_MS later. */
class IdleClosingReceiver {
  readonly received: { id: string; at: number }[] = [];
  /** Requests that arrived on a connection the receiver had already closed (the client sees a reset). */
  resets = 0;
  lastAnswerAt = 0;
  private server?: Server;
  private readonly states = new Map<Socket, ConnectionState>();

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const socket = req.socket;
      const state = this.states.get(socket)!;
      if (state.closed) {
        this.resets++;
        socket.destroy();
        return;
      }
      clearTimeout(state.timer);
      req.resume();
      req.on('end', () => {
        this.received.push({ id: String(req.headers['webhook-id']), at: Date.now() });
        res.on('finish', () => {
          this.lastAnswerAt = Date.now();
          state.timer = setTimeout(() => {
            state.closed = true;
            state.timer = setTimeout(() => socket.destroy(), FIN_IN_FLIGHT_MS);
          }, IDLE_MS);
        });
        res.end('ok');
      });
    });
    // 0: Node then sends no `Keep-Alive: timeout=N` header and closes nothing itself; the idle close is ours above.
    this.server.keepAliveTimeout = 0;
    this.server.on('connection', (socket: Socket) => {
      this.states.set(socket, { closed: false });
      socket.on('close', () => {
        clearTimeout(this.states.get(socket)?.timer);
        this.states.delete(socket);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const state of this.states.values()) clearTimeout(state.timer);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('a destination that closes idle keep-alive connections after 5 s without a Keep-Alive hint', () => {
  it('gets the next event after a 5 s quiet spell on its first attempt: no attempt is lost to a connection the destination already closed', async () => {
    const receiver = await new IdleClosingReceiver().start();
    cleanups.push(() => receiver.stop());
    const { db, app, stop } = await startRoutedService(
      { destinations: { fastapi: { url: `${receiver.url}/hooks` } }, routes: [{ provider: 'stripe', to: ['fastapi'] }] },
      { STRIPE_WEBHOOK_SECRET: SECRET, JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '100' },
    );
    cleanups.push(stop);

    const send = async (stripeId: string): Promise<string> => {
      const { body, headers } = signedStripeRequest(SECRET, { id: stripeId, type: 'invoice.paid' });
      const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
      expect(response.status).toBe(202);
      return response.json!.id as string;
    };
    const completed = (id: string) =>
      waitFor(`event ${id} COMPLETED`, async () => {
        const { rows } = await db.pool.query<{ status: string; attempts: number }>('SELECT status, attempts FROM webhook_events WHERE id = $1', [id]);
        return rows[0]?.status === 'COMPLETED' ? rows[0] : undefined;
      }, { timeoutMs: 20_000 });

    const first = await send('evt_idle_keepalive_1');
    await completed(first);
    // The quiet spell: the next event comes once the receiver's idle timeout has passed for the connection used.
    await waitFor('the receiver idle timeout to pass since its last answer', () => receiver.lastAnswerAt > 0 && Date.now() >= receiver.lastAnswerAt + IDLE_MS + 20, {
      timeoutMs: IDLE_MS + 5000,
      intervalMs: 10,
    });
    const second = await send('evt_idle_keepalive_2');
    const row = await completed(second);

    const { rows: attempts } = await db.pool.query<{ succeeded: boolean; error: string | null }>(
      'SELECT succeeded, error FROM delivery_attempts WHERE event_id = $1 ORDER BY attempt, id',
      [second],
    );
    // Observed: [{ succeeded: false, error: 'UND_ERR_SOCKET: other side closed' }, { succeeded: true, error: null }],
    // attempts 2, receiver.resets 1.
    expect(attempts).toEqual([{ succeeded: true, error: null }]);
    expect(row.attempts).toBe(1);
    expect(receiver.resets).toBe(0);
  }, 60_000);
});
