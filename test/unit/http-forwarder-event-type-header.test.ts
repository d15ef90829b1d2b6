/**
 * The event type is the provider's string (up to 255 characters, any). Sent as it was in `x-webhook-event-type`, one
 * holding a line break or a character beyond U+00FF (`事件.created`) made undici refuse the request: every attempt
 * failed as `network_error` (counted against the destination's circuit) until the event was dead-lettered; one with
 * blanks at either end arrived trimmed, and `café` as Latin-1 bytes. It is now percent-encoded as UTF-8 when a header
 * cannot carry it as it is, and the receiver reads it back with decodeURIComponent.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import type { Destination } from '../../services/worker/routing/route-table.js';

let server: Server;
let destination: Destination;
const received: string[] = [];
const forwarder = new HttpForwarder({ defaultTimeoutMs: 5_000, defaultMaxConcurrency: 2 });

beforeAll(async () => {
  server = createServer((request, response) => {
    // The raw value as sent (latin1 keeps each byte), not Node's reading of it.
    const index = request.rawHeaders.findIndex((name, i) => i % 2 === 0 && name.toLowerCase() === 'x-webhook-event-type');
    received.push(Buffer.from(request.rawHeaders[index + 1]!, 'latin1').toString('latin1'));
    request.resume();
    response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  destination = { name: 'typed', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/in` } as Destination;
});

afterAll(async () => {
  await forwarder.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const readBack = (header: string) => (/%[0-9A-Fa-f]{2}/.test(header) ? decodeURIComponent(header) : header);

describe('HttpForwarder: an event type a header cannot carry as it is', () => {
  it.each(['invoice.paid\nx', '事件.created', ' padded ', 'café', 'invoice.paid'])('%j is delivered and read back as it was', async (eventType) => {
    received.length = 0;
    const result = await forwarder.forward({ id: 'evt-type-header', provider: 'acme', eventType, rawBody: Buffer.from('{}'), contentType: 'application/json' }, destination);
    expect({ result: result.result, error: result.error }).toEqual({ result: 'success', error: null });
    expect(received).toHaveLength(1);
    expect(readBack(received[0]!)).toBe(eventType);
  });
});
