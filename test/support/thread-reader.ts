import { Worker } from 'node:worker_threads';

/**
 * A client of one GET on its own thread (its own event loop), so it goes on reading while the test's thread, which
 * runs the server, is blocked. It reads nothing until told to, then everything as fast as it comes.
 */
export interface ThreadReader {
  /** Bytes read so far (readable while the test's thread is blocked). */
  received(): number;
  /** From now on the client reads everything it is sent (takes effect while the test's thread is blocked, too). */
  readEverything(): void;
  /** Resolves when the answer's `total` bytes have been read or the connection closed, whichever first. */
  finished: Promise<{ received: number; closed: boolean }>;
  stop(): Promise<void>;
}

const CLIENT = `
const { workerData } = require('node:worker_threads');
const net = require('node:net');
const { port, total, shared } = workerData;
const state = new Int32Array(shared); // [0]: 1 once told to read; [1]: KiB read
let received = 0;
let closed = false;
const socket = net.connect({ host: '127.0.0.1', port });
socket.on('error', () => undefined);
socket.on('close', () => (closed = true));
socket.pause();
socket.on('data', (chunk) => {
  received += chunk.length;
  Atomics.store(state, 1, Math.floor(received / 1024));
});
socket.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n');
const look = setInterval(() => {
  if (Atomics.load(state, 0) === 1 && socket.isPaused()) socket.resume();
  if (received >= total || closed) {
    clearInterval(look);
    require('node:worker_threads').parentPort.postMessage({ received, closed });
    socket.destroy();
  }
}, 5);
`;

export function startThreadReader(port: number, total: number): ThreadReader {
  const shared = new SharedArrayBuffer(8);
  const state = new Int32Array(shared);
  const worker = new Worker(CLIENT, { eval: true, workerData: { port, total, shared } });
  const finished = new Promise<{ received: number; closed: boolean }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    received: () => Atomics.load(state, 1) * 1024,
    readEverything: () => void Atomics.store(state, 0, 1),
    finished,
    stop: async () => void (await worker.terminate()),
  };
}
