import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpForwarder, type ForwardedEvent } from '../../services/worker/delivery/http-forwarder.js';
import { startRawDestination, type RawAnswer, type RawDestination } from '../support/raw-destination.js';
import { startRoutedService } from '../support/routed-service.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A destination may send an interim (1xx) answer the worker never asked for (it sends no `Expect`) before its final
 * one: `100 Continue` from servers and proxies that send it to every request with a body, `102 Processing` from
 * WebDAV stacks, `103 Early Hints` from CDNs. RFC 9110 (15.2) has a client take any number of them and act on the
 * final answer. undici skips a 102 or 103 but destroyed the connection on a 100 (`UND_ERR_SOCKET: bad response`,
 * nodejs/undici#197): the attempt was a `network_error` although the destination had the request and answered 200,
 * each retry delivered it again, and the last attempt dead-lettered an event the destination took.
 *
 * The plain-HTTP destinations here are raw sockets on loopback that read the whole request (head and Content-Length
 * body) and then write the interim answers and the final one byte for byte, as such servers do; the https ones are
 * Node's servers (HTTP/1.1, and HTTP/2 by ALPN), whose `100` undici's HTTP/2 client always took.
 */
const TIMEOUT_MS = 5000;
/** The `timeoutMs` of a destination that never gives its final answer. */
const STALL_TIMEOUT_MS = 1000;
const FINAL = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const INTERIMS: [string, string][] = [
  ['100 Continue', 'HTTP/1.1 100 Continue\r\n\r\n'],
  ['100 without a reason phrase', 'HTTP/1.1 100\r\n\r\n'],
  ['100 Continue twice', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n'],
  ['102 Processing', 'HTTP/1.1 102 Processing\r\n\r\n'],
  ['103 Early Hints with headers', 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\nLink: </app.js>; rel=preload; as=script\r\n\r\n'],
  ['100 Continue then 103 Early Hints', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n'],
  ['103 Early Hints then 100 Continue', 'HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n'],
];
const CONTINUE = INTERIMS[0]![1];

const closers: (() => Promise<void>)[] = [];
const forwarders: HttpForwarder[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];

/** A loopback destination that answers every complete request it reads with `answer`'s bytes. */
async function destination(answer: RawAnswer): Promise<RawDestination> {
  const started = await startRawDestination(answer);
  closers.push(started.close);
  return started;
}

function forwarder(): HttpForwarder {
  const created = new HttpForwarder({ defaultTimeoutMs: TIMEOUT_MS, defaultMaxConcurrency: 1 });
  forwarders.push(created);
  return created;
}

function event(id: string): ForwardedEvent {
  return { id, provider: 'stripe', eventType: 'invoice.paid', rawBody: Buffer.from('{"a":1}'), contentType: 'application/json' };
}

afterEach(async () => {
  await Promise.all(forwarders.splice(0).map((f) => f.close()));
  await Promise.all(closers.splice(0).map((close) => close()));
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('HttpForwarder, a destination sending unasked interim answers before its final answer', () => {
  it.each(INTERIMS)('%s then 200: a success with the final status, the request sent once', async (_, interim) => {
    const target = await destination(interim + FINAL);
    const result = await forwarder().forward(event('evt-interim'), { name: 'interim', url: target.url });
    expect(result).toMatchObject({ succeeded: true, result: 'success', statusCode: 200, error: null });
    expect(target.received).toEqual(['evt-interim']);
  });

  it.each(INTERIMS)('%s then 200 on a kept-alive connection: the next requests on it are answered and sent once each', async (_, interim) => {
    const target = await destination(interim + FINAL);
    const sender = forwarder();
    for (const id of ['evt-1', 'evt-2', 'evt-3']) {
      expect(await sender.forward(event(id), { name: 'interim', url: target.url })).toMatchObject({ succeeded: true, statusCode: 200 });
    }
    expect(target.received).toEqual(['evt-1', 'evt-2', 'evt-3']);
    expect(target.connections).toBe(1);
  });

  it.each(INTERIMS)('%s then a 500: the attempt is the 500 (an http_error with its body)', async (_, interim) => {
    const target = await destination(`${interim}HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom`);
    const result = await forwarder().forward(event('evt-interim-500'), { name: 'interim', url: target.url });
    expect(result).toMatchObject({ succeeded: false, result: 'http_error', statusCode: 500, error: 'HTTP 500: boom' });
  });

  it.each(INTERIMS)('%s and then nothing: the attempt is a timeout, as any answer that does not come', async (_, interim) => {
    const target = await destination(interim);
    // A short timeout of the destination's own: the attempt ends only by it here.
    const result = await forwarder().forward(event('evt-interim-stalled'), { name: 'interim', url: target.url, timeoutMs: STALL_TIMEOUT_MS });
    expect(result).toMatchObject({ succeeded: false, result: 'timeout', statusCode: null, error: `timed out after ${STALL_TIMEOUT_MS} ms` });
  });

  it('a 100 Continue and the 200 cut into pieces that arrive apart, twice on one connection: a success each time', async () => {
    const pieces = ['HTTP/1.1 1', '00 Contin', 'ue\r\n', '\r\nHTT', 'P/1.1 20', '0 OK\r\nContent-Length: 2\r\n\r\no', 'k'];
    const target = await destination((socket) => {
      let at = 0;
      const next = () => {
        if (socket.destroyed || at >= pieces.length) return;
        socket.write(pieces[at++]!);
        setTimeout(next, 20);
      };
      next();
    });
    const sender = forwarder();
    for (const id of ['evt-pieces-1', 'evt-pieces-2']) {
      expect(await sender.forward(event(id), { name: 'pieces', url: target.url })).toMatchObject({ succeeded: true, statusCode: 200, error: null });
    }
    expect(target.received).toEqual(['evt-pieces-1', 'evt-pieces-2']);
  });

  it('an answer whose body holds interim heads: the body is passed as it is, and the next request on the connection is answered', async () => {
    const body = CONTINUE + CONTINUE;
    const target = await destination(`HTTP/1.1 500 Internal Server Error\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const sender = forwarder();
    for (const id of ['evt-body-1', 'evt-body-2']) {
      const result = await sender.forward(event(id), { name: 'body', url: target.url });
      expect(result).toMatchObject({ succeeded: false, statusCode: 500, error: `HTTP 500: ${body}` });
    }
  });

  it('a 101 Switching Protocols the worker did not ask for is still refused: a network_error', async () => {
    const target = await destination('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    const result = await forwarder().forward(event('evt-101'), { name: 'upgrade', url: target.url });
    expect(result).toMatchObject({ succeeded: false, result: 'network_error', statusCode: null });
  });
});

describe('HttpForwarder, an https destination answering 100 Continue before its 200', () => {
  const dir = mkdtempSync(join(tmpdir(), 'interim-answers-tls-'));
  const tls: { key?: Buffer; cert?: Buffer } = {};
  const tlsServers: (HttpsServer | Http2SecureServer)[] = [];
  const defaultCAs = getCACertificates('default');

  beforeAll(() => {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'tls.key', '-out', 'tls.crt', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { cwd: dir, stdio: 'pipe' },
    );
    tls.key = readFileSync(join(dir, 'tls.key'));
    tls.cert = readFileSync(join(dir, 'tls.crt'));
    // The forwarder verifies certificates against the default CAs (it has no CA setting of its own): this file's
    // self-signed one is one of them for these tests only.
    setDefaultCACertificates([...defaultCAs, tls.cert.toString()]);
  });

  afterAll(async () => {
    setDefaultCACertificates(defaultCAs);
    await Promise.all(tlsServers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Answers every request, once its body is in, with `100 Continue` (in HTTP/2, an interim HEADERS frame) and a 200. */
  function continueThenOk(versions: string[]) {
    return (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
      req.resume();
      req.on('end', () => {
        versions.push(req.httpVersion);
        if ('stream' in res) {
          res.stream.additionalHeaders({ ':status': 100 });
          res.writeHead(200, { 'content-length': '2' }).end('ok');
        } else {
          res.writeContinue();
          res.writeHead(200, { 'content-length': '2' }).end('ok');
        }
      });
    };
  }

  it.each([
    ['HTTP/1.1', '1.1'],
    ['HTTP/2 (ALPN)', '2.0'],
  ])('over %s: a success each time, the request sent once each', async (_, version) => {
    const versions: string[] = [];
    const server =
      version === '2.0'
        ? createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: true }, continueThenOk(versions))
        : createHttpsServer({ key: tls.key, cert: tls.cert }, continueThenOk(versions));
    tlsServers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const sender = forwarder();
    for (const id of ['evt-tls-1', 'evt-tls-2']) {
      expect(await sender.forward(event(id), { name: 'tls', url })).toMatchObject({ succeeded: true, statusCode: 200, error: null });
    }
    expect(versions).toEqual([version, version]);
  });
});

describe('the worker, a destination answering 100 Continue before its 200', () => {
  it('delivers the event once: one successful attempt, no retry, COMPLETED', async () => {
    const secret = 'whsec_interim_100';
    const target = await destination(CONTINUE + FINAL);
    const { db, app, stop } = await startRoutedService(
      { destinations: { continuing: { url: target.url } }, routes: [{ provider: 'stripe', to: ['continuing'] }] },
      // Two attempts: a failed first one is retried (a duplicate), so what the destination received shows any retry.
      { STRIPE_WEBHOOK_SECRET: secret, JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '10' },
    );
    cleanups.push(stop);

    const { body, headers } = signedStripeRequest(secret, { id: 'evt_interim_100', type: 'invoice.paid' });
    const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    const id = response.json!.id as string;

    const row = await waitFor('the event finished', async () => {
      const { rows } = await db.pool.query<{ status: string; attempts: number }>('SELECT status, attempts FROM webhook_events WHERE id = $1', [id]);
      return rows[0]?.status === 'COMPLETED' || rows[0]?.status === 'DEAD_LETTER' ? rows[0] : undefined;
    });
    const { rows: attempts } = await db.pool.query<{ succeeded: boolean; status_code: number | null; error: string | null }>(
      'SELECT succeeded, status_code, error FROM delivery_attempts WHERE event_id = $1 ORDER BY attempt, id',
      [id],
    );
    // Observed before the fix: DEAD_LETTER after 2 attempts, both { succeeded: false, status_code: null, error:
    // 'UND_ERR_SOCKET: bad response' }, and the destination received the event twice.
    expect({ row, attempts, received: target.received }).toEqual({
      row: { status: 'COMPLETED', attempts: 1 },
      attempts: [{ succeeded: true, status_code: 200, error: null }],
      received: [id],
    });
  }, 60_000);
});
