import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * What a {@link RawDestination} writes for a complete request: bytes, or a function of the socket and the request's
 * index among all the destination's requests (0 first, whichever connection it came on).
 */
export type RawAnswer = string | ((socket: Socket, index: number) => void);

/**
 * A loopback HTTP/1.1 destination on a raw `node:net` server: it reads each whole request (head and Content-Length
 * body) and answers it byte for byte, so a test can send what no HTTP server library would (an interim head before
 * the final one, a status line outside 100–599).
 */
export interface RawDestination {
  url: string;
  /** The requests read in full, in order: their `webhook-id`. */
  received: string[];
  /** Connections the destination accepted. */
  connections: number;
  server: Server;
  close(): Promise<void>;
}

export async function startRawDestination(answer: RawAnswer): Promise<RawDestination> {
  const sockets = new Set<Socket>();
  const state = { received: [] as string[], connections: 0 } as RawDestination;
  state.server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on('data', (data) => {
      buffered = Buffer.concat([buffered, data]);
      for (;;) {
        const headEnd = buffered.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buffered.subarray(0, headEnd).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < headEnd + 4 + length) return;
        buffered = buffered.subarray(headEnd + 4 + length);
        const index = state.received.push(/\r\nwebhook-id: *([^\r]*)/i.exec(head)?.[1] ?? '') - 1;
        if (typeof answer === 'string') socket.write(answer);
        else answer(socket, index);
      }
    });
  });
  // A kept-alive connection of a client not closed yet must not hold close() up.
  state.close = () =>
    new Promise<void>((resolve) => {
      state.server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/hook`;
  return state;
}
