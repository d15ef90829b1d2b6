import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpForwarder, type ForwardedEvent } from '../../services/worker/delivery/http-forwarder.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

/**
 * An http destination whose URL carries credentials (`https://user:pass@host/hook`, the usual way to give a webhook
 * receiver HTTP Basic auth, as curl and most webhook senders take it). ROUTES_FILE accepts such a URL, the service
 * treats its password as a secret to redact (README, Security; admin-console-api.test.ts configures one), and strips it
 * from traces, but the forwarder sends no credentials at all: undici's request() drops the URL's userinfo, so the
 * destination sees an anonymous request, answers 401 on every attempt, and the event is dead-lettered.
 */
let server: Server;
let port: number;
const received: IncomingHttpHeaders[] = [];
const forwarder = new HttpForwarder({ defaultTimeoutMs: 5_000, defaultMaxConcurrency: 4 });
const event: ForwardedEvent = { id: 'evt-basic-auth', provider: 'stripe', eventType: 'invoice.paid', rawBody: Buffer.from('{}'), contentType: 'application/json' };

beforeAll(async () => {
  server = createServer((request, response) => {
    received.push(request.headers);
    request.resume();
    const expected = `Basic ${Buffer.from('hooks:p@ss word').toString('base64')}`;
    response.statusCode = request.headers.authorization === expected ? 204 : 401;
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await forwarder.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('HttpForwarder: credentials in a destination URL', () => {
  it('are sent as HTTP Basic auth (percent-decoded), not silently dropped', async () => {
    const routes = parseRoutes(`destinations:\n  billing:\n    url: http://hooks:p%40ss%20word@127.0.0.1:${port}/hook\nroutes: []\n`, 'ROUTES_FILE test');
    const destination = { ...routes.destinations.billing!, name: 'billing' };

    const result = await forwarder.forward(event, destination);

    expect(received[0]?.authorization).toBe(`Basic ${Buffer.from('hooks:p@ss word').toString('base64')}`);
    expect(result).toMatchObject({ succeeded: true, statusCode: 204 });
  });
});
