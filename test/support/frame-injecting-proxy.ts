import net from 'node:net';

/** One AMQP frame as it crosses the proxy: its type (1 method), channel, and for a method frame its class and method. */
export interface AmqpFrameSeen {
  type: number;
  channel: number;
  classId?: number;
  methodId?: number;
}

/** The end octet of every AMQP 0-9-1 frame. */
const FRAME_END = 0xce;
/** type (1) + channel (2) + payload size (4). */
const FRAME_HEADER = 7;
/** What a client sends first: "AMQP" 0 0 9 1, not a frame. */
const PROTOCOL_HEADER = 8;

/**
 * A basic.ack method frame (class 60, method 80) on `channel`: well formed, but for a channel the client never opened
 * amqplib takes it for a protocol error ("Frame on unknown channel") and closes the connection over it.
 */
export function basicAckFrame(channel: number, deliveryTag = 1n): Buffer {
  const payload = Buffer.alloc(2 + 2 + 8 + 1);
  payload.writeUInt16BE(60, 0);
  payload.writeUInt16BE(80, 2);
  payload.writeBigUInt64BE(deliveryTag, 4);
  payload.writeUInt8(0, 12); // multiple: false
  const header = Buffer.alloc(FRAME_HEADER);
  header.writeUInt8(1, 0);
  header.writeUInt16BE(channel, 1);
  header.writeUInt32BE(payload.length, 3);
  return Buffer.concat([header, payload, Buffer.from([FRAME_END])]);
}

/**
 * Cuts a byte stream into whole AMQP frames, whatever the chunks it arrives in. `skip` bytes come first that are not
 * a frame (the client's protocol header).
 */
class FrameSplitter {
  private rest = Buffer.alloc(0);

  constructor(private skip = 0) {}

  push(chunk: Buffer): Buffer[] {
    this.rest = Buffer.concat([this.rest, chunk]);
    if (this.skip > 0) {
      const skipped = Math.min(this.skip, this.rest.length);
      this.rest = this.rest.subarray(skipped);
      this.skip -= skipped;
    }
    const frames: Buffer[] = [];
    while (this.rest.length >= FRAME_HEADER) {
      const length = FRAME_HEADER + this.rest.readUInt32BE(3) + 1;
      if (this.rest.length < length) break;
      frames.push(this.rest.subarray(0, length));
      this.rest = this.rest.subarray(length);
    }
    return frames;
  }
}

function seen(frame: Buffer): AmqpFrameSeen {
  const type = frame.readUInt8(0);
  const channel = frame.readUInt16BE(1);
  return type === 1 ? { type, channel, classId: frame.readUInt16BE(7), methodId: frame.readUInt16BE(9) } : { type, channel };
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  /** The broker's frames kept back while held, in order. */
  heldFrames: Buffer[] | undefined;
}

/**
 * A TCP proxy in front of RabbitMQ that passes the broker's frames on whole, so that a test can write frames of its
 * own to the client between two of them (a frame the broker never sent: a protocol error to the client), keep the
 * broker's frames back for a while, and wait for a frame the client sends.
 */
export class FrameInjectingProxy {
  private server?: net.Server;
  private readonly pairs = new Set<Pair>();
  private holding = false;
  private readonly waiters: { matches: (frame: AmqpFrameSeen) => boolean; resolve: (frame: AmqpFrameSeen) => void }[] = [];

  constructor(
    private readonly host: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    this.server = net.createServer((client) => {
      const upstream = net.connect({ host: this.host, port: this.targetPort });
      const pair: Pair = { client, upstream, heldFrames: this.holding ? [] : undefined };
      this.pairs.add(pair);
      for (const socket of [client, upstream]) socket.on('error', () => undefined);
      const fromClient = new FrameSplitter(PROTOCOL_HEADER);
      client.on('data', (data: Buffer) => {
        upstream.write(data);
        for (const frame of fromClient.push(data)) this.clientSent(seen(frame));
      });
      const fromBroker = new FrameSplitter();
      upstream.on('data', (data: Buffer) => {
        for (const frame of fromBroker.push(data)) {
          if (pair.heldFrames) pair.heldFrames.push(frame);
          else client.write(frame);
        }
      });
      client.on('close', () => {
        upstream.destroy();
        this.pairs.delete(pair);
      });
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  /** From now on the broker's frames are kept back, on every connection, until {@link release}. */
  hold(): void {
    this.holding = true;
    for (const pair of this.pairs) pair.heldFrames ??= [];
  }

  /** Passes the frames kept back on, and the broker's next ones as they come. */
  release(): void {
    this.holding = false;
    for (const pair of this.pairs) {
      const held = pair.heldFrames ?? [];
      pair.heldFrames = undefined;
      for (const frame of held) pair.client.write(frame);
    }
  }

  /**
   * Writes `frame` to every open connection's client as if the broker had sent it: between two of the broker's frames,
   * which are passed on whole only.
   */
  inject(frame: Buffer): void {
    for (const pair of this.pairs) pair.client.write(frame);
  }

  /** Resolves once a client sends a frame that `matches` (from now on). */
  nextClientFrame(matches: (frame: AmqpFrameSeen) => boolean): Promise<AmqpFrameSeen> {
    return new Promise((resolve) => this.waiters.push({ matches, resolve }));
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private clientSent(frame: AmqpFrameSeen): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (!waiter.matches(frame)) continue;
      this.waiters.splice(i, 1);
      waiter.resolve(frame);
    }
  }
}
