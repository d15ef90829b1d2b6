import type { Socket } from 'node:net';

/**
 * Closes connections whose output has stopped going out. A client that pipelines requests and never reads their
 * answers fills the kernel's buffers; from then on nothing is read or answered on the connection, so no bound
 * (pending answers, unflushed bytes) is checked again, Node's request timeouts apply only while a request arrives and
 * its keep-alive timeout only once an answer has gone out: the connection (its fd, megabytes of socket buffers) would
 * be kept until the client went away.
 *
 * Progress is what the kernel has taken, not how long output has been pending: a slow client reading a 20 MB answer
 * has output pending for minutes, and is kept as long as the kernel takes some of it within every `stallMs`.
 */
export class WriteStallWatch {
  private readonly watched = new Map<Socket, { taken: number; since: number }>();
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  /**
   * Checks `sockets` every `stallMs / 4`, at most a second apart: a stalled one is closed within one check past
   * `stallMs`, once libuv's next poll has shown that it still takes nothing.
   */
  constructor(
    private readonly sockets: Iterable<Socket>,
    private readonly stallMs: number,
  ) {
    this.timer = setInterval(() => this.sweep(), Math.min(1000, Math.max(10, stallMs / 4)));
    this.timer.unref(); // a listener closed without stop() must not keep the process alive
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.watched.clear();
  }

  private sweep(): void {
    const now = Date.now();
    const overdue: [Socket, number][] = [];
    for (const socket of this.sockets) {
      if (socket.destroyed || socket.writableLength === 0) {
        this.watched.delete(socket); // nothing waiting to go out: not stalled, whatever the client does
        continue;
      }
      const taken = takenByKernel(socket);
      const seen = this.watched.get(socket);
      if (!seen || seen.taken !== taken) this.watched.set(socket, { taken, since: now });
      else if (now - seen.since >= this.stallMs) overdue.push([socket, taken]);
    }
    // Sockets gone from `sockets` (closed) are forgotten too.
    for (const socket of this.watched.keys()) if (socket.destroyed) this.watched.delete(socket);
    // Looked at again after libuv's next poll, before being closed. The sweep is a timer: after the event loop was
    // blocked (a long callback or GC, or the process descheduled in one) it runs before libuv has had a chance to
    // hand the kernel more of what the client took meanwhile, so the block would count as the client's stall: every
    // connection with output pending across a block longer than the bound was closed, its client reading all along.
    if (overdue.length > 0) setImmediate(() => this.closeStalled(overdue));
  }

  private closeStalled(overdue: [Socket, number][]): void {
    if (this.stopped) return;
    for (const [socket, taken] of overdue) {
      if (socket.destroyed || socket.writableLength === 0) continue; // gone, or all out: the next sweep forgets it
      if (takenByKernel(socket) !== taken) continue; // moved in that poll: the next sweep starts its wait again
      this.watched.delete(socket);
      socket.destroy();
    }
  }
}

/**
 * Bytes of output the kernel has taken from `socket`: what was handed to libuv, less what libuv still queues. The
 * public `writableLength` counts a chunk until the kernel has taken all of it, so one 20 MB answer read slowly would
 * show no progress for as long as it takes; libuv's queue shrinks as each part goes.
 */
function takenByKernel(socket: Socket): number {
  const internals = socket as Socket & { _bytesDispatched?: number; _handle?: { writeQueueSize?: number } | null };
  return (internals._bytesDispatched ?? 0) - (internals._handle?.writeQueueSize ?? 0);
}
