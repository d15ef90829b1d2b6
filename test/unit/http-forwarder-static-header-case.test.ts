import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpForwarder, type ForwardedEvent } from '../../services/worker/delivery/http-forwarder.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

/**
 * A destination's static `headers` are merged with the headers the forwarder sets by exact key, but HTTP header names
 * are case-insensitive. A static header written as usual (`Content-Type`, `Webhook-Id`) is therefore sent next to the
 * forwarder's own lower-case one: the request carries two Content-Type headers (invalid for a single-valued field;
 * Node keeps the first, other servers the last or refuse), and two webhook-id values, which a receiver joins into
 * "static, <event id>", breaking deduplication and signature verification.
 */
let server: Server;
let port: number;
let rawHeaders: string[] = [];
const forwarder = new HttpForwarder({ defaultTimeoutMs: 5_000, defaultMaxConcurrency: 4 });
const event: ForwardedEvent = { id: 'evt-header-case', provider: 'stripe', eventType: 'invoice.paid', rawBody: Buffer.from('{}'), contentType: 'application/json' };

beforeAll(async () => {
  server = createServer((request, response) => {
    rawHeaders = request.rawHeaders;
    request.resume();
    response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await forwarder.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const namesSent = (name: string) => rawHeaders.filter((_, i) => i % 2 === 0 && rawHeaders[i]!.toLowerCase() === name);

describe('HttpForwarder: static headers named in another case than the forwarder names its own', () => {
  it('each header field is sent once', async () => {
    const yaml = `destinations:\n  billing:\n    url: http://127.0.0.1:${port}/hook\n    headers:\n      Content-Type: application/vnd.billing+json\n      Webhook-Id: static\nroutes: []\n`;
    const destination = { ...parseRoutes(yaml, 'ROUTES_FILE test').destinations.billing!, name: 'billing' };

    expect(await forwarder.forward(event, destination)).toMatchObject({ succeeded: true });
    expect(namesSent('content-type')).toHaveLength(1);
    expect(namesSent('webhook-id')).toHaveLength(1);
  });
});
