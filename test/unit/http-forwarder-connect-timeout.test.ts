import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpForwarder, type ForwardedEvent } from '../../services/worker/delivery/http-forwarder.js';

/**
 * An attempt whose connection could not be made ends on the connection's own timeout (undici's connect timeout, 10 s),
 * which comes first when the destination's `timeoutMs` is longer. Found: its error said "timed out after <timeoutMs>
 * ms", naming a timeout that had not run out (the attempt lasted the connect timeout) and pointing at a slow answer
 * when no connection was ever made. Here an https destination accepts TCP and never answers the TLS handshake.
 */
const CONNECT_TIMEOUT_MS = 300;
const TIMEOUT_MS = 20_000;
const event: ForwardedEvent = { id: 'evt-connect-timeout', provider: 'stripe', eventType: 'invoice.paid', rawBody: Buffer.from('{}'), contentType: 'application/json' };

let server: Server;
let port: number;
const sockets = new Set<Socket>();
const forwarder = new HttpForwarder({ defaultTimeoutMs: TIMEOUT_MS, defaultMaxConcurrency: 1, connectTimeoutMs: CONNECT_TIMEOUT_MS });

beforeAll(async () => {
  // Takes the connection and says nothing: the client's TLS handshake never ends.
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await forwarder.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('HttpForwarder: a destination no connection can be made to', () => {
  it("says the connection timed out, after how long, and where it tried; not the destination's timeoutMs", async () => {
    const result = await forwarder.forward(event, { name: 'silent-tls', url: `https://127.0.0.1:${port}/hook` });

    expect(result).toMatchObject({ succeeded: false, result: 'timeout', statusCode: null });
    expect(result.error).toMatch(new RegExp(`^no connection within ${CONNECT_TIMEOUT_MS} ms \\(connect timeout: TCP connect and TLS handshake\\): .*127\\.0\\.0\\.1:${port}`));
    expect(result.error).not.toContain(`${TIMEOUT_MS} ms`);
  });
});
