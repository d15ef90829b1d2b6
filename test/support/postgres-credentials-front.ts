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
    if (this.passing) {
      const upstream = net.connect({ host: this.host, port: this.port });
      this.track(upstream);
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      return;
    }
    // The startup message: Int32 length (itself included), then the protocol version and the parameters.
    let received = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4 || received.length < received.readInt32BE(0)) return;
      const parameters = received.subarray(8, received.readInt32BE(0)).toString('utf8').split('\0');
      const user = parameters[parameters.indexOf('user') + 1] ?? '';
      this.refused++;
      client.end(errorResponse({ S: 'FATAL', V: 'FATAL', C: '28P01', M: `password authentication failed for user "${user}"` }));
    });
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
