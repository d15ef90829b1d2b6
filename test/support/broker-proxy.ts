import net from 'node:net';
import { AMQP_PROTOCOL_HEADER_LENGTH, AmqpFrameSplitter, amqpFrameSeen, type AmqpFrameSeen } from './amqp-frames.js';

/**
 * How the proxy cuts what crosses it into answers: `amqp` passes the broker's AMQP frames on whole (so that frames of
 * the test's can be written between two of them) and reads the client's; `bytes` passes the bytes on as they come,
 * whatever the protocol (NATS's).
 */
export type BrokerProxyFraming = 'amqp' | 'bytes';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  /** The broker's answers kept back while held, in order. */
  heldAnswers: Buffer[] | undefined;
  /** Whether the broker's answers are dropped: neither passed on nor kept. */
  droppingAnswers: boolean;
}

/**
 * A TCP proxy in front of a message broker that lets a test decide what of the broker's answers reaches the client:
 * keep them back for a while, drop them (the broker read and acted, the client hears nothing), write AMQP frames of
 * its own between them (a frame the broker never sent: a protocol error to the client), cut the connections, and wait
 * for an AMQP frame the client sends.
 */
export class BrokerProxy {
  private server?: net.Server;
  private readonly pairs = new Set<Pair>();
  private holding = false;
  private readonly waiters: { matches: (frame: AmqpFrameSeen) => boolean; resolve: (frame: AmqpFrameSeen) => void }[] = [];
  private readonly framing: BrokerProxyFraming;

  constructor(
    private readonly host: string,
    private readonly targetPort: number,
    options: { framing: BrokerProxyFraming },
  ) {
    this.framing = options.framing;
  }

  async start(): Promise<number> {
    this.server = net.createServer((client) => {
      const upstream = net.connect({ host: this.host, port: this.targetPort });
      const pair: Pair = { client, upstream, heldAnswers: this.holding ? [] : undefined, droppingAnswers: false };
      this.pairs.add(pair);
      for (const socket of [client, upstream]) socket.on('error', () => undefined);
      const fromClient = this.framing === 'amqp' ? new AmqpFrameSplitter(AMQP_PROTOCOL_HEADER_LENGTH) : undefined;
      client.on('data', (data: Buffer) => {
        upstream.write(data);
        for (const frame of fromClient?.push(data) ?? []) this.clientSent(amqpFrameSeen(frame));
      });
      const fromBroker = this.framing === 'amqp' ? new AmqpFrameSplitter() : undefined;
      upstream.on('data', (data: Buffer) => {
        for (const answer of fromBroker?.push(data) ?? [data]) {
          if (pair.droppingAnswers) continue;
          if (pair.heldAnswers) pair.heldAnswers.push(answer);
          else client.write(answer);
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

  /** From now on the broker's answers are kept back, on every connection (new ones too), until {@link release}. */
  hold(): void {
    this.holding = true;
    for (const pair of this.pairs) pair.heldAnswers ??= [];
  }

  /** Passes the answers kept back on, and the broker's next ones as they come. */
  release(): void {
    this.holding = false;
    for (const pair of this.pairs) {
      const held = pair.heldAnswers ?? [];
      pair.heldAnswers = undefined;
      for (const answer of held) pair.client.write(answer);
    }
  }

  /**
   * What the broker sends on the open connections is dropped from now on (what was kept back too): it reads and acts,
   * the client hears nothing. New connections are let through.
   */
  dropAnswers(): void {
    for (const pair of this.pairs) {
      pair.droppingAnswers = true;
      pair.heldAnswers = undefined;
    }
  }

  /**
   * Writes `frame` to every open connection's client as if the broker had sent it: between two of the broker's frames,
   * which are passed on whole only.
   */
  inject(frame: Buffer): void {
    this.requireAmqpFraming('inject');
    for (const pair of this.pairs) pair.client.write(frame);
  }

  /** Resolves once a client sends an AMQP frame that `matches` (from now on). */
  nextClientFrame(matches: (frame: AmqpFrameSeen) => boolean): Promise<AmqpFrameSeen> {
    this.requireAmqpFraming('nextClientFrame');
    return new Promise((resolve) => this.waiters.push({ matches, resolve }));
  }

  /** Cuts every open connection (new ones are let through). */
  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** Frames can be written between, and read as, whole frames only when the proxy cuts the stream into them. */
  private requireAmqpFraming(what: string): void {
    if (this.framing !== 'amqp') throw new Error(`BrokerProxy.${what} needs { framing: 'amqp' } (this proxy passes bytes as they come)`);
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
