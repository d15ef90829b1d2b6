import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody } from './error-response.js';
import { securityHeaderValues } from './security-headers.js';

/** Node's parser errors, as the status a client gets for them (Node's own defaults). */
const STATUS_BY_CODE: Record<string, { status: number; message: string; code: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, message: 'Request header fields are too large', code: 'HEADERS_TOO_LARGE' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'Request timed out', code: 'REQUEST_TIMEOUT' },
};
const MALFORMED = { status: 400, message: 'Malformed HTTP request', code: 'BAD_REQUEST' };

/** The request line's path, when the bytes Node kept of the bad request start with one. */
const REQUEST_LINE = /^[A-Z]{3,10} (\/[^\s?]*)/;

/**
 * The server's `clientError` listener: a request Node's parser refused (headers over the limit, malformed HTTP, a
 * request that took too long) reaches no route, and Node would answer it with a bare status line. It gets the
 * contract's error shape instead, with a correlation id and the security headers every other answer carries, then
 * the connection is closed (the stream cannot be trusted after a parse error).
 */
export function answerClientError(error: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex): void {
  const pending = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
    socket.destroy();
    return;
  }
  const { status, message, code } = STATUS_BY_CODE[error.code ?? ''] ?? MALFORMED;
  const path = REQUEST_LINE.exec(error.rawPacket?.subarray(0, 2048).toString('latin1') ?? '')?.[1] ?? '';
  const correlationId = randomUUID();
  const json = JSON.stringify(errorBody(status, path, message, { correlationId, traceId: randomUUID().replaceAll('-', '') }, code));
  const headers = {
    ...securityHeaderValues(),
    'X-Correlation-Id': correlationId,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(json)),
    Connection: 'close',
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${json}`);
}
