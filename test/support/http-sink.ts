import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a sink received. */
export interface SinkRequest {
  path: string;
  headers: IncomingHttpHeaders;
  /** Names and values as they came, in order, one entry per header line (node joins repeated ones in `headers`). */
  rawHeaders: string[];
  body: Buffer;
  at: number;
}

/**
 * Decides a response: status code, an optional delay before answering or a promise answered after (`until`: the test
 * lets it go), an optional body (else ok / failed) and headers.
 */
export type SinkBehaviour = (
  request: SinkRequest,
  index: number,
) => { status: number; delayMs?: number; until?: Promise<unknown>; body?: string; headers?: Record<string, string> };

/** A local HTTP destination that records what it is sent. */
export class HttpSink {
  readonly requests: SinkRequest[] = [];
  private server?: Server;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Fires after each request is recorded (before the response is sent). */
  onRequest?: (request: SinkRequest) => void;

  constructor(public behaviour: SinkBehaviour = () => ({ status: 200 })) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const request: SinkRequest = { path: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks), at: Date.now() };
        const index = this.requests.push(request) - 1;
        this.onRequest?.(request);
        const { status, delayMs, until, body, headers } = this.behaviour(request, index);
        const answer = () => {
          res.statusCode = status;
          for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
          res.end(body ?? (status < 300 ? 'ok' : 'failed'));
        };
        if (delayMs) {
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            answer();
          }, delayMs);
          this.timers.add(timer);
        } else if (until) void until.then(answer);
        else answer();
      });
    });
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  /** Requests carrying this event id in `webhook-id`. */
  requestsFor(eventId: string): SinkRequest[] {
    return this.requests.filter((request) => request.headers['webhook-id'] === eventId);
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
