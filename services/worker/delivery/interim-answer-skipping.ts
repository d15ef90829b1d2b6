import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { buildConnector } from 'undici';

/**
 * The longest interim head held back while it is incomplete (Node's and undici's default header limit): a longer one
 * is handed to the HTTP client as it is, which refuses it as it refuses any oversized head.
 */
const MAX_INTERIM_HEAD = 16 * 1024;
/** `HTTP/1.1 1xx` and the byte after the status code: what tells an interim head from a final one. */
const STATUS_LINE_PREFIX = 13;
const HEAD_END = Buffer.from('\r\n\r\n');

/** Bytes go to the HTTP client as they come: a response's final head has begun (or no request is on the wire). */
const PASSING = 0;
/** A request was written and its answer has not begun: interim heads are dropped until the final one starts. */
const AWAITING_FINAL_HEAD = 1;

/**
 * undici's connector with the connect timeout given, whose HTTP/1.1 connections drop the interim (1xx) answers a
 * destination sends before its final one, so that undici only ever sees final answers.
 *
 * Why: RFC 9110 (15.2) has a client take any number of 1xx answers before the final one, asked for or not, and some
 * servers and proxies send `100 Continue` to every request with a body. undici skips a `102` or `103` but destroys
 * the connection on a `100` (`UND_ERR_SOCKET: bad response`, in both its HTTP/1.1 parsers, before any handler or
 * option of the request sees it; nodejs/undici#197, wontfix): the attempt failed though the destination had the
 * request and answered 2xx, every retry delivered it again, and the last one dead-lettered an event that was
 * delivered. HTTP/2 carries interim answers as frames undici handles: its connections are left as they are.
 *
 * How, on undici's HTTP/1.1 client as it is: it reads a connection only by `socket.read()`, and sends a request only
 * once the previous answer on that connection has been read to its end (one request at a time: HttpForwarder's
 * pools keep `pipelining: 1`), its head and body in one go (the body is a Buffer). So the first bytes that arrive
 * after a request is written begin its answer; while they are an interim head (`HTTP/1.x 1xx`, not `101`) it is
 * dropped, and from the first byte that cannot begin one everything passes untouched until the next request. The
 * common case costs a comparison of a few bytes per answer and no copy. test/integration/http-forwarder-interim-answers
 * fails if an undici upgrade stops this from working.
 */
export function interimAnswerSkippingConnector(connectTimeoutMs: number): buildConnector.connector {
  const connect = buildConnector({ timeout: connectTimeoutMs });
  return (options, callback) =>
    connect(options, (...args) => {
      const socket = args[1];
      if (socket && (socket as Partial<TLSSocket>).alpnProtocol !== 'h2') dropInterimHeads(socket);
      callback(...args);
    });
}

/** Wraps the socket's own `write` and `read` (undici's only ways in and out of it) with the dropping of interim heads. */
function dropInterimHeads(socket: Socket): void {
  const write = socket.write;
  const read = socket.read;
  let reading: typeof PASSING | typeof AWAITING_FINAL_HEAD = PASSING;
  /** Bytes read while awaiting the final head that cannot yet be told to be interim or not. */
  let held: Buffer | null = null;

  socket.write = function (this: Socket) {
    if (reading === PASSING) reading = AWAITING_FINAL_HEAD;
    // `arguments`, not a rest parameter: no array made per write.
    return write.apply(this, arguments as unknown as Parameters<Socket['write']>);
  } as Socket['write'];

  socket.read = function (this: Socket, size?: number) {
    if (reading === PASSING) return read.call(this, size);
    for (;;) {
      const chunk = read.call(this) as Buffer | null;
      if (chunk !== null) held = held === null ? chunk : Buffer.concat([held, chunk]);
      while (held !== null) {
        const interimEnd = interimHeadEnd(held);
        if (interimEnd === FINAL) {
          reading = PASSING;
          const passed = held;
          held = null;
          return passed;
        }
        if (interimEnd === UNDECIDED) break;
        held = interimEnd === held.length ? null : held.subarray(interimEnd);
      }
      if (chunk === null) {
        // The connection ended inside an interim head: undici gets what came, and fails the request as for any cut head.
        if (held !== null && this.readableEnded) {
          reading = PASSING;
          const passed = held;
          held = null;
          return passed;
        }
        return null;
      }
    }
  } as Socket['read'];
}

const FINAL = -1;
const UNDECIDED = 0;

/**
 * Where the interim head `bytes` begin with ends (the offset after its blank line); {@link FINAL} when they cannot
 * begin one (a final head, or anything else, for undici to judge); {@link UNDECIDED} when more bytes are needed.
 */
function interimHeadEnd(bytes: Buffer): number {
  const known = Math.min(bytes.length, STATUS_LINE_PREFIX);
  for (let i = 0; i < known; i++) {
    if (!fitsInterimStatusLine(i, bytes[i]!)) return FINAL;
  }
  if (bytes.length < STATUS_LINE_PREFIX) return UNDECIDED;
  // 101 Switching Protocols is not interim here (no upgrade is ever asked for): undici refuses it.
  if (bytes[10] === 0x30 && bytes[11] === 0x31) return FINAL;
  const end = bytes.indexOf(HEAD_END, STATUS_LINE_PREFIX - 1);
  if (end >= 0) return end + HEAD_END.length;
  return bytes.length > MAX_INTERIM_HEAD ? FINAL : UNDECIDED;
}

/** Whether byte `at` of a status line can be `c` in `HTTP/d.d 1dd` followed by a space or the line's end. */
function fitsInterimStatusLine(at: number, c: number): boolean {
  switch (at) {
    case 0:
      return c === 0x48; // H
    case 1:
    case 2:
      return c === 0x54; // T
    case 3:
      return c === 0x50; // P
    case 4:
      return c === 0x2f; // /
    case 6:
      return c === 0x2e; // .
    case 8:
      return c === 0x20; // space
    case 9:
      return c === 0x31; // 1
    case 12:
      return c === 0x20 || c === 0x0d; // space, or CR of a status line without a reason phrase
    default:
      return c >= 0x30 && c <= 0x39; // 5, 7, 10, 11: a digit
  }
}
