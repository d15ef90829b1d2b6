import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logging/logger.js';
import { runWithContext, type RequestContext } from '../logging/request-context.js';
import { httpRequestDuration } from '../metrics/metrics.js';
import { logAccess } from './access-log.js';
import { metricMethod } from './metric-method.js';
import { errorBody } from './error-response.js';
import { requestContextFor } from './request-context-middleware.js';
import { securityHeaderValues } from './security-headers.js';

/** Node's parser errors, as the status a client gets for them (Node's own defaults). */
const STATUS_BY_CODE: Record<string, { status: number; message: string; code: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, message: 'Request header fields are too large', code: 'HEADERS_TOO_LARGE' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'Request timed out', code: 'REQUEST_TIMEOUT' },
};
const MALFORMED = { status: 400, message: 'Malformed HTTP request', code: 'BAD_REQUEST' };

/** The request line's method and path, when the bytes Node kept of the bad request start with one. */
const REQUEST_LINE = /^([A-Z]{3,10}) (\/[^\s?]*)/;

/**
 * The server's `clientError` listener: a request Node's parser refused (headers over the limit, malformed HTTP, a
 * request that took too long) reaches no route, and Node would answer it with a bare status line. It gets the
 * contract's error shape instead, with a correlation id and the security headers every other answer carries, then
 * the connection is closed (the stream cannot be trusted after a parse error).
 */
export function answerClientError(
  error: Error & { code?: string; rawPacket?: Buffer },
  socket: Duplex,
  logger?: Logger,
  /** The request refused, when Node had handed it to the app (a body that timed out): its method and path are logged. */
  request?: { method?: string; url?: string },
): void {
  const pending = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
    socket.destroy();
    return;
  }
  const { status, message, code } = STATUS_BY_CODE[error.code ?? ''] ?? MALFORMED;
  const requestLine = REQUEST_LINE.exec(error.rawPacket?.subarray(0, 2048).toString('latin1') ?? '');
  const sentMethod = requestLine?.[1] ?? request?.method ?? '';
  const method = metricMethod(sentMethod);
  const path = requestLine?.[2] ?? request?.url?.split('?')[0] ?? '';
  const context = { correlationId: randomUUID(), traceId: randomUUID().replaceAll('-', '') };
  const { headers, json } = answered({ method, path, status, message, code, context }, logger);
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${json}`);
}

/**
 * The server's `checkExpectation` listener: a request whose `Expect` is not `100-continue` gets 417 (RFC 9110
 * 10.1.1), in the contract's error shape with the usual headers, on a connection then closed (its body is unread).
 */
export function answerExpectationFailed(req: IncomingMessage, res: ServerResponse, logger?: Logger): void {
  const method = metricMethod(req.method);
  const path = (req.url ?? '').split('?')[0]!;
  const { headers, json } = answered(
    { method, path, status: 417, message: 'Only `Expect: 100-continue` is supported', code: 'EXPECTATION_FAILED', context: requestContextFor(req.headers) },
    logger,
  );
  res.writeHead(417, headers);
  res.end(json);
}

/** Counts and logs an answer given outside the app (like any answered request: its correlation id finds the line), and makes it. */
function answered(
  answer: { method: string; path: string; status: number; message: string; code: string; context: RequestContext },
  logger: Logger | undefined,
): { headers: Record<string, string>; json: string } {
  const { method, path, status, message, code, context } = answer;
  const json = JSON.stringify(errorBody(status, path, message, context, code));
  // A flood of oversized headers or timed-out requests shows on the dashboards.
  httpRequestDuration.observe({ method, route: 'unmatched', status_code: String(status) }, 0);
  if (logger) runWithContext(context, () => logAccess(logger, 'info', { method, path, statusCode: status, durationMs: 0, outcome: code }));
  const headers = {
    ...securityHeaderValues(),
    'X-Correlation-Id': context.correlationId!,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(json)),
    Connection: 'close',
  };
  return { headers, json };
}
