import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerSecretValues } from '../../services/shared/logging/logger.js';
import { HttpForwarder, type ForwardedEvent } from '../../services/worker/delivery/http-forwarder.js';

/**
 * A destination's error answer is kept (cut to 512 characters, control characters replaced) as the attempt's error
 * text, which PostgreSQL keeps and the console shows. A configured secret the destination echoes is redacted there, also when the cut falls
 * inside it: redacting after the cut would leave the secret's first characters, which no redaction recognises.
 */
const SECRET = 'echoed-destination-credential-0123456789';
const event: ForwardedEvent = { id: 'evt-1', provider: 'stripe', eventType: 'invoice.paid', rawBody: Buffer.from('{}'), contentType: 'application/json' };

let answer = '';
let server: Server;
let url: string;
const forwarder = new HttpForwarder({ defaultTimeoutMs: 10_000, defaultMaxConcurrency: 4 });

beforeAll(async () => {
  registerSecretValues([SECRET]);
  server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.statusCode = 500;
      response.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  await forwarder.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("HttpForwarder: a destination's error answer as the attempt's error text", () => {
  it('is kept as answered, cut to 512 characters, when it holds no secret', async () => {
    answer = `{"error":"${'b'.repeat(600)}"}`;
    const result = await forwarder.forward(event, { name: 'plain', url });
    expect(result).toMatchObject({ succeeded: false, result: 'http_error', statusCode: 500 });
    expect(result.error).toBe(`HTTP 500: ${answer.slice(0, 512)}`);
  });

  it('has an echoed secret redacted, even where the cut falls inside it', async () => {
    answer = `${'x'.repeat(500)}${SECRET} and more`;
    const result = await forwarder.forward(event, { name: 'echoing', url });
    expect(result.error).toBe(`HTTP 500: ${'x'.repeat(500)}[REDACTED] a`);
    expect(result.error).not.toContain(SECRET.slice(0, 8));

    answer = `{"echo":"${SECRET}"}`;
    expect((await forwarder.forward(event, { name: 'echoing', url })).error).toBe('HTTP 500: {"echo":"[REDACTED]"}');
  });

  it('has its control characters shown as U+FFFD: PostgreSQL text refuses NUL, and a binary answer has them', async () => {
    // A NUL refused the attempt's whole finish (SQLSTATE 22021): the event stayed PROCESSING and was sent again for ever.
    answer = 'upstream\u0000error \u001b[31mred\u001b[0m\u007f\u0085\ttab\r\nline';
    const result = await forwarder.forward(event, { name: 'binary', url });
    expect(result.error).toBe('HTTP 500: upstream\uFFFDerror \uFFFD[31mred\uFFFD[0m\uFFFD\uFFFD\ttab\r\nline');
  });
});
