import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpForwarder, type ForwardedEvent } from '../../services/worker/delivery/http-forwarder.js';

/**
 * A destination's error answer (non-2xx) is kept only as its first 512 characters (searched for secrets over its first
 * 64 KiB). Reading it must stop there: a destination answering 500 with a huge or endless body (an HTML error page of a
 * proxy, a misbehaving or hostile endpoint) must neither fill the worker's memory nor hold the attempt until timeoutMs.
 *
 * Today `response.body.text()` buffers the whole answer: against a local endless 500 the worker read hundreds of MB
 * (RSS 154 MB → 510 MB in 2 s; the chart's worker limit is 768Mi, the default timeoutMs 10 s, and WORKER_CONCURRENCY
 * such reads can run at once), the attempt lasted the full timeoutMs, and its error lost the answer's text ("HTTP 500").
 */
const TIMEOUT_MS = 4000;
const event: ForwardedEvent = { id: 'evt-big-error', provider: 'stripe', eventType: 'invoice.paid', rawBody: Buffer.from('{}'), contentType: 'application/json' };
const chunk = Buffer.alloc(1 << 20, 'e');

let server: Server;
let url: string;
let bytesSent = 0;
const forwarder = new HttpForwarder({ defaultTimeoutMs: TIMEOUT_MS, defaultMaxConcurrency: 4 });

beforeAll(async () => {
  server = createServer((request, response) => {
    request.resume();
    response.writeHead(500, { 'content-type': 'text/plain' });
    // An endless error body, written as fast as the client takes it.
    const pump = () => {
      while (!response.destroyed) {
        bytesSent += chunk.length;
        if (!response.write(chunk)) break;
      }
    };
    response.on('drain', pump);
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  server.closeAllConnections();
  await forwarder.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('HttpForwarder: an endless error answer', () => {
  it('is read only as far as the error text needs: the attempt ends at once with the text, not at timeoutMs after reading hundreds of MB', async () => {
    const result = await forwarder.forward(event, { name: 'endless-500', url });

    expect(result).toMatchObject({ succeeded: false, result: 'http_error', statusCode: 500 });
    // The kept text: the answer's first 512 characters.
    expect(result.error).toBe(`HTTP 500: ${'e'.repeat(512)}`);
    // Ended by its own reading, not by the destination's timeout: what the destination could write is the 64 KiB
    // read and what the sockets' buffers hold (a few MB), however slow the machine; reading on until timeoutMs takes
    // hundreds of MB (read on a loaded machine too), and ends with the same result and text.
    expect(bytesSent).toBeLessThan(32 * 1024 * 1024);
  });
});
