import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** One request a {@link SinkProcess} received: when it arrived (ms since the epoch) and its `webhook-id`. */
export interface Arrival {
  id: string;
  at: number;
}

// The sink's own process: its arrival times are not delayed by whatever the test process is busy with (sending the
// load, polling the database). It answers 200 at once and prints one JSON line per request as the request arrives.
const SCRIPT = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  const at = Date.now();
  req.resume();
  req.on('end', () => { res.statusCode = 200; res.end('ok'); });
  process.stdout.write(JSON.stringify({ id: String(req.headers['webhook-id'] || ''), at }) + '\\n');
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/** An HTTP destination in a process of its own that records when each request arrives. */
export class SinkProcess {
  readonly arrivals: Arrival[] = [];
  private child?: ChildProcess;
  private port?: number;

  async start(): Promise<this> {
    this.child = spawn(process.execPath, ['-e', SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
    let partial = '';
    const ready = new Promise<void>((resolve, reject) => {
      this.child!.once('exit', (code) => reject(new Error(`sink process exited (${code})`)));
      this.child!.stdout!.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const parsed = JSON.parse(line) as { port?: number } & Arrival;
          if (parsed.port !== undefined) {
            this.port = parsed.port;
            resolve();
          } else this.arrivals.push({ id: parsed.id, at: parsed.at });
        }
      });
    });
    await ready;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}
