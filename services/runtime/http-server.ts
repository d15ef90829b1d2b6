import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { answerClientError, answerExpectationFailed } from '../shared/http/client-error-response.js';
import type { Logger } from '../shared/logging/logger.js';
import { WriteStallWatch } from './write-stall-watch.js';

/** The listening HTTP server, and how it stops. */
export interface HttpServer {
  readonly address: AddressInfo;
  /**
   * Stops accepting connections and waits for the requests in flight; idle keep-alive connections close at once,
   * and the ones whose request was in flight close as they go idle. After `graceMs` (default
   * {@link DEFAULT_DRAIN_GRACE_MS}), a connection still receiving a request (headers or body incomplete: a stalled or
   * very slow upload) is closed; one whose complete request is being answered is waited for.
   */
  close(graceMs?: number): Promise<void>;
  /**
   * Every answer not yet begun closes its connection (`Connection: close`), as every later request's does while
   * `isDraining`: a keep-alive answer to a request in flight when the drain began would invite the client to reuse a
   * connection the drain closes a moment later (ECONNRESET on a POST it cannot safely retry). close() does it too.
   */
  endKeepAlive(): void;
}

/**
 * How long the drain waits for clients to finish sending their requests before it closes their connections.
 * requestTimeout (30 s) is longer than the default SHUTDOWN_TIMEOUT_MS (25 s), so a stalled upload would otherwise hold
 * the drain until the forced exit, skipping every later step (writer drain, queue close, trace flush).
 */
export const DEFAULT_DRAIN_GRACE_MS = 5000;

/**
 * The server's limits on a client: how long its request's headers, and its whole request, may take to arrive (each
 * answered 408 past it, within a second), how long an idle keep-alive connection is kept (longer than common
 * load balancers' idle timeout, so they close it first), and how long answers may wait for the client to take any of
 * them before the connection is closed (see WriteStallWatch; as long as a request may take to arrive). The drain
 * does not wait for them: see DEFAULT_DRAIN_GRACE_MS.
 */
export const HTTP_TIMEOUTS = { headersMs: 20_000, requestMs: 30_000, keepAliveMs: 65_000, writeStallMs: 30_000 };

/**
 * Unanswered requests one connection may have. HTTP/1.1 lets a client pipeline requests without reading the
 * answers; Node hands every request of one read (64 KB: ~2000 small GETs) to the app at once and keeps every answer
 * until the client reads it. At this many, the connection stops being read until all its answers have gone out; a request past it
 * (parsed from the same read) closes the connection unanswered.
 */
export const MAX_PENDING_RESPONSES_PER_CONNECTION = 16;
/** Answers written to a connection but not yet taken by its client, in bytes, past which the connection is closed. */
export const MAX_UNFLUSHED_BYTES_PER_CONNECTION = 4 * 2 ** 20;

/** Per-connection state, kept on the socket itself (set once per connection: no allocation per request). */
const PENDING = Symbol('unanswered requests');
const HELD = Symbol('reading held until answers go out');
const LATEST = Symbol('answer to the latest request');
const AFTER_ANSWERS = Symbol('what to do once the answers due have gone out');
type TrackedSocket = Socket & {
  [PENDING]: number;
  [HELD]: boolean;
  [LATEST]: ServerResponse<IncomingMessage> | undefined;
  [AFTER_ANSWERS]: (() => void) | undefined;
};

/** Serves `app` on host:port with timeouts that suit a service behind load balancers. */
export async function listen(
  app: RequestListener,
  options: { port: number; host: string; isDraining: () => boolean; logger?: Logger; timeouts?: Partial<typeof HTTP_TIMEOUTS> },
): Promise<HttpServer> {
  const timeouts = { ...HTTP_TIMEOUTS, ...options.timeouts };
  // Once draining, no response keeps its connection alive: clients on keep-alive connections would otherwise go on
  // sending to a draining server, and close() would wait for them until SHUTDOWN_TIMEOUT_MS forced exit 1.
  const server: Server = createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      // How often Node looks for requests past those limits (default 30 s: a 20 s headersTimeout acted as 20-50 s).
      // It walks the connections with a request in progress, once a second: no measurable cost.
      connectionsCheckingInterval: 1000,
    },
    boundedPerConnection(app, options.isDraining),
  );
  const sockets = new Set<TrackedSocket>();
  server.on('connection', (socket: TrackedSocket) => {
    socket[PENDING] = 0;
    socket[HELD] = false;
    socket[LATEST] = undefined;
    socket[AFTER_ANSWERS] = undefined;
    socket.on('resume', keepHeld);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = timeouts.keepAliveMs;
  // Node's timeouts never end a connection whose answers wait on a client that has stopped reading; this does.
  const writeStalls = new WriteStallWatch(sockets, timeouts.writeStallMs);
  server.once('close', () => writeStalls.stop());
  // Requests Node's parser refuses (oversized headers, malformed HTTP) get the contract's error shape too.
  // A request refused after pipelined requests still being answered is answered after them: written at once, its
  // answer would reach the client as the answer to the first of them (a valid webhook told 431 or 400).
  server.on('clientError', (error: Error & { code?: string }, socket: TrackedSocket) => {
    const pending = socket[PENDING];
    if (pending === 0 || error.code === 'ECONNRESET' || socket.destroyed) return answerClientError(error, socket, options.logger);
    const latest = socket[LATEST]!.req;
    if (latest.complete) {
      // The refused request was never handed to the app (its headers were refused): answered after the others.
      socket[AFTER_ANSWERS] ??= () => answerClientError(error, socket, options.logger);
      socket[HELD] = true; // nothing more is read: the stream cannot be trusted after a parse error
      socket.pause();
    } else if (pending === 1) {
      // The request being received is the one refused (its body timed out, or was malformed): answered now.
      answerClientError(error, socket, options.logger, latest);
    } else {
      // Refused while earlier answers are due: no answer can be placed in order. The connection is closed.
      socket.destroy();
    }
  });
  // `Expect: 100-continue`: Node would send `100 Continue` at once, inviting the body of a request the app then
  // refuses (unknown provider, content type, declared length over the limit). It is sent when the app starts
  // reading the body instead; a refusal before that closes the connection, the body never sent.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    continueOnRead(req, res);
    server.emit('request', req, res);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => answerExpectationFailed(req, res, options.logger));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => {
      writeStalls.stop();
      reject(error);
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const endKeepAlive = () => {
    for (const socket of sockets) {
      const res = socket[LATEST];
      if (res && !res.headersSent) closeAfter(res);
    }
  };
  return {
    address: server.address() as AddressInfo,
    endKeepAlive,
    async close(graceMs = DEFAULT_DRAIN_GRACE_MS) {
      endKeepAlive();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const graceEnds = Date.now() + graceMs;
      let cut = 0;
      const sweep = () => {
        server.closeIdleConnections();
        if (Date.now() < graceEnds) return;
        for (const socket of sockets) {
          if (socket.destroyed || !stillReceiving(socket)) continue;
          socket.destroy();
          cut++;
        }
      };
      sweep();
      const sweeps = setInterval(sweep, 100);
      await closed;
      clearInterval(sweeps);
      if (cut > 0) options.logger?.warn('drain: closed connections whose request was still incomplete', { connections: cut, graceMs });
    },
  };
}

/**
 * `app`, with the number of unanswered requests per connection and the bytes waiting in its write buffer bounded
 * (see {@link MAX_PENDING_RESPONSES_PER_CONNECTION}): a client that pipelines requests and reads nothing otherwise
 * makes the server render and keep answers without limit (a few thousand metrics scrapes exhaust the heap).
 */
function boundedPerConnection(app: RequestListener, isDraining: () => boolean): RequestListener {
  return (req, res) => {
    const socket = req.socket as TrackedSocket;
    if (socket.destroyed) return;
    if (socket[PENDING] >= MAX_PENDING_RESPONSES_PER_CONNECTION || socket.writableLength > MAX_UNFLUSHED_BYTES_PER_CONNECTION) {
      socket.destroy();
      return;
    }
    if (isDraining()) {
      // The connection closes after its last answer: one due to an earlier request it already read is kept alive again.
      const previous = socket[LATEST];
      if (previous && !previous.headersSent && closedByDrain.has(previous)) previous.shouldKeepAlive = true;
      closeAfter(res);
    }
    socket[LATEST] = res;
    if (++socket[PENDING] === MAX_PENDING_RESPONSES_PER_CONNECTION) {
      socket[HELD] = true;
      socket.pause();
    }
    res.on('close', onAnswered);
    app(req, res);
  };
}

/** Answers the drain made close their connection (not those the client or the app did). */
const closedByDrain = new WeakSet<ServerResponse>();

/** `res` closes its connection (`Connection: close`, decided when its head is written). */
function closeAfter(res: ServerResponse): void {
  if (!res.shouldKeepAlive) return;
  res.shouldKeepAlive = false;
  closedByDrain.add(res);
}

/**
 * Whether a connection (not idle: closeIdleConnections closed those) is still receiving a request: nothing to
 * answer yet (a request's headers are arriving), or one answer due whose request's body is still arriving. One whose
 * complete request is being answered (an insert in flight) is not; nor one with earlier answers still due.
 */
function stillReceiving(socket: TrackedSocket): boolean {
  return socket[PENDING] === 0 || (socket[PENDING] === 1 && socket[LATEST]?.req.complete === false);
}

/**
 * A response's 'close': written out (or its connection gone). Reading resumes once every answer due has gone out,
 * not at the first: the next read may hold a whole batch of pipelined requests, and with answers still due it would
 * pass the bound and close the connection of a client that never pipelines more than the bound at once.
 */
function onAnswered(this: ServerResponse<IncomingMessage>): void {
  const socket = this.req.socket as TrackedSocket;
  if (--socket[PENDING] === 0 && socket[AFTER_ANSWERS]) {
    const answer = socket[AFTER_ANSWERS];
    socket[AFTER_ANSWERS] = undefined;
    answer();
  } else if (socket.writableLength > MAX_UNFLUSHED_BYTES_PER_CONNECTION) socket.destroy();
  else if (socket[HELD] && socket[PENDING] === 0 && !socket[AFTER_ANSWERS]) {
    socket[HELD] = false;
    socket.resume();
  }
}

/** Node resumes a socket it paused for its own reasons as soon as its write buffer drains; one held here stays paused. */
function keepHeld(this: TrackedSocket): void {
  if (this[HELD]) this.pause();
}

/** Sends `100 Continue` when something first reads `req`'s body, unless an answer has started by then. */
function continueOnRead(req: IncomingMessage, res: ServerResponse): void {
  const read = req._read;
  req._read = function (this: IncomingMessage, size: number) {
    req._read = read;
    if (!res.headersSent) res.writeContinue();
    return read.call(this, size);
  };
}
