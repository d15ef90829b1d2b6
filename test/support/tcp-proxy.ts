import net from 'node:net';

/**
 * A TCP proxy in front of a real server (PostgreSQL, Redis), so a test can cut the service off from it
 * ("the dependency is down") and restore it, without touching the server other tests use.
 */
export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** Each client's socket with the upstream socket it is piped to. */
  private readonly pipes = new Map<net.Socket, net.Socket>();
  private listenPort = 0;
  private held = false;
  /** Whether connections opened during the hold are held too (a server gone silent for everyone). */
  private holdingNew = false;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(port = 0): Promise<number> {
    this.server = net.createServer((client) => {
      const upstream = net.connect({ host: this.targetHost, port: this.targetPort });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      upstream.pipe(client);
      if (this.held && this.holdingNew) client.pause();
      else client.pipe(upstream);
      this.pipes.set(client, upstream);
      client.on('close', () => this.pipes.delete(client));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(port || this.listenPort, '127.0.0.1', resolve));
    this.listenPort = (this.server.address() as net.AddressInfo).port;
    return this.listenPort;
  }

  get port(): number {
    return this.listenPort;
  }

  /** Refuses new connections and cuts the open ones: to the service the dependency is gone. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /**
   * Stops reading what the clients send (answers still flow back): to a client the server has stopped reading, as
   * RabbitMQ does under a resource alarm or a congested network would, so its socket buffers fill up. With
   * `newConnections`, connections opened during the hold are held as well (their first bytes, PostgreSQL's startup
   * message, never arrive): the server has gone silent for everyone, not only on the connections open now.
   */
  hold(options: { newConnections?: boolean } = {}): void {
    this.held = true;
    this.holdingNew = options.newConnections ?? false;
    for (const client of this.pipes.keys()) {
      client.unpipe();
      client.pause();
    }
  }

  /**
   * Forwards what the clients send again, what was held back first. Once: piped twice, each command would reach the
   * server twice, and its second answers would be taken for those of the commands after it.
   */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.holdingNew = false;
    for (const [client, upstream] of this.pipes) client.pipe(upstream);
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    await this.start(this.listenPort);
  }
}
