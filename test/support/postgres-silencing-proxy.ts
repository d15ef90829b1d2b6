import net from 'node:net';

/** A connection's startup parameters (user, database, application_name, …), as the client sent them. */
export type StartupParameters = Record<string, string>;

/**
 * A TCP proxy in front of PostgreSQL that lets a connection through its startup (and, optionally, some answers), then
 * goes silent on it: nothing more is forwarded either way, and the client's FIN is not passed on nor answered, so its
 * socket stays open. That is what a frozen primary, a network partition or a proxy that stops forwarding looks like
 * to the client: the connection was accepted and answered, then nothing; TCP keepalive notices none of them in time
 * (a frozen primary's kernel, or the proxy's, still acknowledges).
 *
 * {@link silence} chooses the connections (by their startup parameters) and after how many ReadyForQuery messages
 * (1: right after the startup's) they go silent. Connections not chosen are forwarded as they are.
 */
export class PostgresSilencingProxy {
  /** Connections that went silent, with their startup parameters. */
  readonly silenced: StartupParameters[] = [];
  private rule?: { matches: (startup: StartupParameters) => boolean; afterReadyForQuery: number | ((startup: StartupParameters) => number) };
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  /**
   * Connections opened from now on whose startup `matches` go silent after their `afterReadyForQuery`-th ReadyForQuery
   * (a function: chosen by the connection's startup, so that each kind of session can be let through its own steps).
   */
  silence(matches: (startup: StartupParameters) => boolean, afterReadyForQuery: number | ((startup: StartupParameters) => number) = 1): void {
    this.rule = { matches, afterReadyForQuery };
  }

  async start(): Promise<number> {
    // allowHalfOpen: the client's FIN must not end the proxy's side; a silent peer never answers it.
    this.server = net.createServer({ allowHalfOpen: true }, (client) => this.connect(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server!.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private connect(client: net.Socket): void {
    const upstream = net.connect({ host: this.host, port: this.port });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
    }
    let silent = false;
    // Until it is silent, an end either way ends the other side; once silent, the client's end goes nowhere.
    client.on('end', () => {
      if (!silent) upstream.end();
    });
    client.on('close', () => {
      if (!silent) upstream.destroy();
    });
    upstream.on('close', () => {
      if (!silent) client.destroy();
    });

    let silenceAfter: number | undefined;
    let readyForQuery = 0;

    // Frontend: the startup message has no type byte; every message after it does.
    let fromClient = Buffer.alloc(0);
    let started = false;
    client.on('data', (chunk: Buffer) => {
      if (silent) return;
      fromClient = Buffer.concat([fromClient, chunk]);
      for (;;) {
        const header = started ? 5 : 4;
        if (fromClient.length < header) return;
        const size = fromClient.readInt32BE(started ? 1 : 0) + (started ? 1 : 0);
        if (fromClient.length < size) return;
        const message = fromClient.subarray(0, size);
        fromClient = fromClient.subarray(size);
        // SSLRequest (8 bytes, code 80877103) is answered with one byte and followed by the real startup message.
        if (!started && !(size === 8 && message.readInt32BE(4) === 80877103)) {
          started = true;
          const startup = startupParameters(message);
          if (this.rule?.matches(startup)) {
            const after = this.rule.afterReadyForQuery;
            silenceAfter = typeof after === 'function' ? after(startup) : after;
          }
          if (silenceAfter !== undefined) this.silencedStartups.set(client, startup);
        }
        upstream.write(message);
      }
    });

    // Backend: typed messages throughout; everything up to and including the chosen ReadyForQuery goes through.
    let fromServer = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      if (silent) return;
      fromServer = Buffer.concat([fromServer, chunk]);
      const out: Buffer[] = [];
      while (fromServer.length >= 5) {
        const size = fromServer.readInt32BE(1) + 1;
        if (fromServer.length < size) break;
        const message = fromServer.subarray(0, size);
        fromServer = fromServer.subarray(size);
        out.push(message);
        if (message[0] === 0x5a /* ReadyForQuery */ && silenceAfter !== undefined && ++readyForQuery >= silenceAfter) {
          silent = true;
          this.silenced.push(this.silencedStartups.get(client) ?? {});
          break;
        }
      }
      if (out.length > 0) client.write(Buffer.concat(out));
    });
  }

  private readonly silencedStartups = new Map<net.Socket, StartupParameters>();
}

/** The key/value pairs of a StartupMessage (length, protocol version, then NUL-terminated pairs). */
function startupParameters(message: Buffer): StartupParameters {
  const parts = message.toString('utf8', 8).split('\0');
  const parameters: StartupParameters = {};
  for (let index = 0; index + 1 < parts.length && parts[index] !== ''; index += 2) parameters[parts[index]!] = parts[index + 1]!;
  return parameters;
}
