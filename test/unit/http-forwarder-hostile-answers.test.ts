import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { HttpForwarder, type ForwardedEvent } from '../../services/worker/delivery/http-forwarder.js';
import { startRawDestination, type RawDestination } from '../support/raw-destination.js';

/**
 * Destinations that answer in ways a well-behaved receiver does not, written byte for byte on raw sockets: the
 * forwarder must record what the destination did (a 2xx is a success however its body behaves; anything it cannot
 * take is a failed attempt with a short error), never read more than it needs, and leave the next request to the
 * same destination unharmed. These held when they were written (a review from the destination's side); they guard
 * against an HTTP client upgrade or a change of how answers are read quietly changing any of it.
 */
// Well above what any answer here takes on a loaded machine; the byte-at-a-time head takes over twice this.
const TIMEOUT_MS = 5000;
const event: ForwardedEvent = { id: 'evt-hostile', provider: 'stripe', eventType: 'invoice.paid', rawBody: Buffer.from('{"a":1}'), contentType: 'application/json' };

const destinations: RawDestination[] = [];
const forwarders: HttpForwarder[] = [];

/** A loopback destination that answers every complete request with `answer(socket, n)` (n counts from 0). */
async function destination(answer: (socket: Socket, n: number) => void): Promise<RawDestination> {
  const started = await startRawDestination(answer);
  destinations.push(started);
  return started;
}

function forwarder(): HttpForwarder {
  const created = new HttpForwarder({ defaultTimeoutMs: TIMEOUT_MS, defaultMaxConcurrency: 1 });
  forwarders.push(created);
  return created;
}

afterEach(async () => {
  // Every request has ended by now (each test awaits its forwards): closing the forwarders closes their connections.
  await Promise.all(forwarders.splice(0).map((f) => f.close()));
  await Promise.all(destinations.splice(0).map((d) => d.close()));
});

describe('HttpForwarder against hostile destinations', () => {
  it('a 200 with an endless body is a success once the status is in; the body is not read past a bound', async () => {
    let sent = 0;
    const chunk = Buffer.alloc(1 << 20, 'x');
    const target = await destination((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
      const pump = () => {
        while (!socket.destroyed) {
          sent += chunk.length;
          if (!socket.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]))) return;
        }
      };
      socket.on('drain', pump);
      pump();
    });
    const result = await forwarder().forward(event, { name: 'endless-200', url: target.url });
    expect(result).toMatchObject({ succeeded: true, result: 'success', statusCode: 200, error: null });
    // What sockets' buffers hold, not what the destination could write until the timeout (hundreds of MB).
    expect(sent).toBeLessThan(32 * 1024 * 1024);
  });

  it.each([
    ['a Content-Length body that stops short', 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc'],
    ['a chunked body that never ends', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n'],
  ])('a 200 whose body stalls (%s) is a success, not a timeout: the destination took the event', async (_, head) => {
    const target = await destination((socket) => socket.write(head));
    const result = await forwarder().forward(event, { name: 'stalled-200', url: target.url });
    expect(result).toMatchObject({ succeeded: true, result: 'success', statusCode: 200 });
  });

  it('headers written a byte at a time, slower than timeoutMs in all, end the attempt as a timeout', async () => {
    const target = await destination((socket) => {
      const head = `HTTP/1.1 200 OK\r\nx-padding: ${'a'.repeat(300)}\r\ncontent-length: 0\r\n\r\n`;
      let at = 0;
      const timer = setInterval(() => (socket.destroyed || at >= head.length ? clearInterval(timer) : socket.write(head[at++]!)), 50);
    });
    const result = await forwarder().forward(event, { name: 'drip-headers', url: target.url });
    expect(result).toMatchObject({ succeeded: false, result: 'timeout', statusCode: null, error: `timed out after ${TIMEOUT_MS} ms` });
  });

  it.each([301, 302, 303, 307, 308])('a %i is not followed: a failed attempt naming the Location, nothing sent elsewhere', async (status) => {
    const elsewhere = await destination((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'));
    const target = await destination((socket) => socket.write(`HTTP/1.1 ${status} Moved\r\nlocation: ${elsewhere.url}\r\ncontent-length: 0\r\n\r\n`));
    const result = await forwarder().forward(event, { name: 'moved', url: target.url });
    expect(result).toMatchObject({ succeeded: false, result: 'http_error', statusCode: status, error: `HTTP ${status} (Location: ${elsewhere.url})` });
    expect(elsewhere.received).toHaveLength(0);
  });

  it('a huge Location is cut in the error text', async () => {
    const target = await destination((socket) => socket.write(`HTTP/1.1 302 Found\r\nlocation: http://x/${'a'.repeat(8000)}\r\ncontent-length: 0\r\n\r\n`));
    const result = await forwarder().forward(event, { name: 'long-location', url: target.url });
    expect(result).toMatchObject({ succeeded: false, statusCode: 302 });
    expect(result.error!.length).toBeLessThan(600);
  });

  it.each(['HTTP/1.1 102 Processing\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n'])(
    'an interim %j before the 200 is skipped',
    async (interim) => {
      const target = await destination((socket) => socket.write(`${interim}HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok`));
      const result = await forwarder().forward(event, { name: 'interim', url: target.url });
      expect(result).toMatchObject({ succeeded: true, statusCode: 200 });
    },
  );

  it('a 204 with body bytes is a success, and the connection after it still carries the next requests', async () => {
    const target = await destination((socket) => socket.write('HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\nhello'));
    const sender = forwarder();
    for (let i = 0; i < 3; i++) {
      expect(await sender.forward(event, { name: 'no-content', url: target.url })).toMatchObject({ succeeded: true, statusCode: 204 });
    }
    expect(target.received).toHaveLength(3);
  });

  it('an HTTP/1.0 answer whose body ends at the close is read to its end', async () => {
    const target = await destination((socket) => {
      socket.write('HTTP/1.0 500 Internal Server Error\r\n\r\nsome body');
      setTimeout(() => socket.end(), 20);
    });
    const result = await forwarder().forward(event, { name: 'http-1.0', url: target.url });
    expect(result).toMatchObject({ succeeded: false, result: 'http_error', statusCode: 500, error: 'HTTP 500: some body' });
  });

  it.each([
    ['response headers over the HTTP client limit', `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(100_000)}\r\ncontent-length: 0\r\n\r\n`, /^UND_ERR_HEADERS_OVERFLOW: /],
    ['a status that is not a number', 'HTTP/1.1 abc OK\r\ncontent-length: 0\r\n\r\n', /^HTTPParserError: .*Invalid status code/],
    ['not HTTP at all', 'SSH-2.0-OpenSSH_9.6\r\n\r\n', /^HTTPParserError: /],
  ])('%s: a network_error with a short error', async (_, answer, error) => {
    const target = await destination((socket) => socket.write(answer));
    const result = await forwarder().forward(event, { name: 'malformed', url: target.url });
    expect(result).toMatchObject({ succeeded: false, result: 'network_error', statusCode: null });
    expect(result.error).toMatch(error);
    expect(result.error!.length).toBeLessThanOrEqual(512);
  });

  it('a connection reset mid-request is a network_error, and the next request opens a new connection', async () => {
    const target = await destination((socket, n) => (n === 0 ? socket.resetAndDestroy() : socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n')));
    const sender = forwarder();
    expect(await sender.forward(event, { name: 'reset', url: target.url })).toMatchObject({ succeeded: false, result: 'network_error', error: 'ECONNRESET: read ECONNRESET' });
    expect(await sender.forward(event, { name: 'reset', url: target.url })).toMatchObject({ succeeded: true, statusCode: 200 });
  });
});
