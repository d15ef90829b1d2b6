import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerClientError } from '../shared/http/client-error-response.js';
import type { Logger } from '../shared/logging/logger.js';

/** The listening HTTP server, and how it stops. */
export interface HttpServer {
  readonly address: AddressInfo;
  /**
   * Stops accepting connections and waits for the requests in flight; idle keep-alive connections close at once,
   * and the ones whose request was in flight close as they go idle.
   */
  close(): Promise<void>;
}

/** Serves `app` on host:port with timeouts that suit a service behind load balancers. */
export async function listen(app: RequestListener, options: { port: number; host: string; isDraining: () => boolean; logger?: Logger }): Promise<HttpServer> {
  const server: Server = createServer(app);
  server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeout
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  // Once draining, no response keeps its connection alive: clients on keep-alive connections would otherwise go on
  // sending to a draining server, and close() would wait for them until SHUTDOWN_TIMEOUT_MS forced exit 1.
  server.prependListener('request', (_req, res) => {
    if (options.isDraining()) res.setHeader('Connection', 'close');
  });
  // Requests Node's parser refuses (oversized headers, malformed HTTP) get the contract's error shape too.
  server.on('clientError', (error: Error & { code?: string }, socket) => answerClientError(error, socket, options.logger));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    address: server.address() as AddressInfo,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
      await closed;
      clearInterval(idleSweep);
    },
  };
}
