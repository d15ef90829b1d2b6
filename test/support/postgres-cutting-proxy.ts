import net from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that reads the wire protocol's messages, so a test can break a connection at an
 * exact point of a statement, as a failover, a network blip or a killed session does at an unlucky instant:
 * - {@link cutAfterAnswer}: the statement ran and its implicit transaction committed (its CommandComplete and the
 *   ReadyForQuery after the Sync came back), and the answer is lost: the connection is cut instead of forwarding it;
 * - {@link cutOnStatement}: the client binds a named prepared statement; the connection is cut before PostgreSQL
 *   sees it (what ran before on the connection stands).
 * Each armed cut happens once, on the first connection that meets it. With {@link refuseAfterCut}, the cut is the
 * start of an outage: PostgreSQL gone for this client (a restart, a failover) until the test sets {@link refusing}
 * back to false.
 */
export class PostgresCuttingProxy {
  /** A CommandComplete tag (`INSERT 0 1`) to lose the answer of, once; undefined: none. */
  cutAfterAnswer?: RegExp;
  /** A prepared statement's name whose Bind cuts the connection, once; undefined: none. */
  cutOnStatement?: string;
  cuts = 0;
  /**
   * A cut also cuts every other connection and sets {@link refusing}: the statement is the first to meet an outage,
   * not a lone blip.
   */
  refuseAfterCut = false;
  /** New connections are closed as they come (the client sees "Connection terminated unexpectedly"). */
  refusing = false;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  async start(): Promise<number> {
    this.server = net.createServer((client) => this.connect(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server!.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private connect(client: net.Socket): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: this.host, port: this.port });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    const cut = () => {
      this.cuts++;
      if (this.refuseAfterCut) {
        // Every connection goes with it: the pool's idle ones would otherwise take the statement's next try.
        this.refusing = true;
        for (const socket of this.sockets) socket.destroy();
      }
      upstream.destroy();
      client.destroy();
    };

    // Frontend: the startup message has no type byte; every message after it does.
    let fromClient = Buffer.alloc(0);
    let started = false;
    client.on('data', (chunk: Buffer) => {
      fromClient = Buffer.concat([fromClient, chunk]);
      for (;;) {
        const header = started ? 5 : 4;
        if (fromClient.length < header) return;
        const size = fromClient.readInt32BE(started ? 1 : 0) + (started ? 1 : 0);
        if (fromClient.length < size) return;
        const message = fromClient.subarray(0, size);
        fromClient = fromClient.subarray(size);
        if (started && message[0] === 0x42 /* Bind */ && this.cutOnStatement !== undefined) {
          const portalEnd = message.indexOf(0, 5);
          const statement = message.toString('utf8', portalEnd + 1, message.indexOf(0, portalEnd + 1));
          if (statement === this.cutOnStatement) {
            this.cutOnStatement = undefined;
            return cut();
          }
        }
        // SSLRequest (8 bytes, code 80877103) is answered with one byte and followed by the real startup message.
        if (!started && !(size === 8 && message.readInt32BE(4) === 80877103)) started = true;
        upstream.write(message);
      }
    });

    // Backend: typed messages throughout. An answer to lose is held from its CommandComplete to its ReadyForQuery.
    let fromServer = Buffer.alloc(0);
    let losing = false;
    upstream.on('data', (chunk: Buffer) => {
      fromServer = Buffer.concat([fromServer, chunk]);
      const out: Buffer[] = [];
      for (;;) {
        if (fromServer.length < 5) break;
        const size = fromServer.readInt32BE(1) + 1;
        if (fromServer.length < size) break;
        const message = fromServer.subarray(0, size);
        fromServer = fromServer.subarray(size);
        if (message[0] === 0x43 /* CommandComplete */ && this.cutAfterAnswer?.test(message.toString('utf8', 5, size - 1))) {
          this.cutAfterAnswer = undefined;
          losing = true;
        }
        // ReadyForQuery after the Sync: the implicit transaction has committed. Nothing of the answer went out.
        if (losing && message[0] === 0x5a) return cut();
        if (!losing) out.push(message);
      }
      if (out.length > 0) client.write(Buffer.concat(out));
    });
  }
}
