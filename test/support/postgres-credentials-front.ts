import net from 'node:net';

/**
 * A TCP front for PostgreSQL that refuses every connection's credentials, as PostgreSQL does a wrong password: it
 * answers the startup message with an ErrorResponse, SQLSTATE 28P01, and closes. The suite's PostgreSQL trusts every
 * local connection, so it refuses no password itself. Once {@link passThrough} is called (the password set right),
 * connections opened from then on are forwarded to PostgreSQL as they are.
 */
export class PostgresCredentialsFront {
  /** How many connections were refused so far (each retry of a start is one, or more). */
  refused = 0;
  private passing = false;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly host: string,
    private readonly port: number,
    /**
     * Refuse only connections to this database, as pg_hba.conf does with no entry for it (SQLSTATE 28000), and
     * forward the rest: a role let into its own database only. Unset: refuse every connection with 28P01.
     */
    private readonly onlyDatabase?: string,
  ) {}

  /** Connections opened from now on reach PostgreSQL. */
  passThrough(): void {
    this.passing = true;
  }

  async start(): Promise<number> {
    this.server = net.createServer((client) => this.connect(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server!.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private connect(client: net.Socket): void {
    this.track(client);
    if (this.passing) return this.forward(client, Buffer.alloc(0));
    // The startup message: Int32 length (itself included), then the protocol version and the parameters.
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4 || received.length < received.readInt32BE(0)) return;
      client.off('data', onData);
      const parameters = received.subarray(8, received.readInt32BE(0)).toString('utf8').split('\0');
      const parameter = (name: string) => (parameters.includes(name) ? (parameters[parameters.indexOf(name) + 1] ?? '') : '');
      const user = parameter('user');
      const database = parameter('database') || user;
      if (this.onlyDatabase !== undefined && database !== this.onlyDatabase) return this.forward(client, received);
      this.refused++;
      client.end(
        this.onlyDatabase !== undefined
          ? errorResponse({ S: 'FATAL', V: 'FATAL', C: '28000', M: `no pg_hba.conf entry for host "127.0.0.1", user "${user}", database "${database}", no encryption` })
          : errorResponse({ S: 'FATAL', V: 'FATAL', C: '28P01', M: `password authentication failed for user "${user}"` }),
      );
    };
    client.on('data', onData);
  }

  /** Connects `client` to PostgreSQL, sending first what was read of it already. */
  private forward(client: net.Socket, alreadyRead: Buffer): void {
    client.pause();
    const upstream = net.connect({ host: this.host, port: this.port });
    this.track(upstream);
    if (alreadyRead.length > 0) upstream.write(alreadyRead);
    client.pipe(upstream).pipe(client);
    client.resume();
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }
}

/** A backend ErrorResponse ('E'): each field a one-byte code and a NUL-terminated string, the list ended by a NUL. */
function errorResponse(fields: Record<string, string>): Buffer {
  const body = Buffer.concat([...Object.entries(fields).map(([code, value]) => Buffer.from(`${code}${value}\0`, 'utf8')), Buffer.from([0])]);
  const header = Buffer.alloc(5);
  header.write('E', 0, 'ascii');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}
