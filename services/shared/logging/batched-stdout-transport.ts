import { writeSync } from 'node:fs';
import Transport from 'winston-transport';

const MESSAGE = Symbol.for('message');

/** Bytes gathered before they are written at once, whatever the turn (a burst of lines never grows unbounded). */
const MAX_PENDING_BYTES = 64 * 1024;

/**
 * Writes log lines to standard output, one `write` per event-loop turn instead of one per line. Under load the
 * ingress logs a line per request; stdout is a pipe in a container, where Node writes synchronously, so each line
 * was a system call on the request path (about a quarter of the ingress's CPU at `LOG_LEVEL=info`). Lines are
 * written in order, at the end of the turn that logged them (setImmediate); at exit whatever is pending is written
 * synchronously, so a crash or `process.exit` loses nothing already logged.
 */
export class BatchedStdoutTransport extends Transport {
  private pending: string[] = [];
  private pendingBytes = 0;
  private scheduled = false;

  constructor() {
    super();
    process.once('exit', () => this.flushSync());
  }

  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    const line = `${String(info[MESSAGE])}\n`;
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= MAX_PENDING_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    callback();
  }

  /** Writes what is pending now (asynchronously, through process.stdout). */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const chunk = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    process.stdout.write(chunk);
  }

  /** Writes what is pending before the process ends (no event loop left to do it later). */
  private flushSync(): void {
    if (this.pending.length === 0) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    try {
      writeSync(1, chunk);
    } catch {
      // stdout closed: nothing left to tell.
    }
  }
}
