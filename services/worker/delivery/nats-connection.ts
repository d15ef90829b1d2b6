import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { connect, headers as natsHeaders, RequestError, type NatsConnection as CoreConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../../shared/logging/logger.js';
import { failureSignal, untilInterrupted, withinDeadline } from './deadline.js';
import { withoutCredentials } from './url-without-credentials.js';

/** Why JetStream did not store a message; the publisher reports each as a failed attempt with this message. */
export class NatsPublishError extends Error {
  constructor(
    /**
     * `unreachable`: no connection; `no_stream`: no stream captures the subject (nobody answered the publish);
     * `refused`: the stream answered with an error (full, a rejected header, …), or not with an ack; `timeout`: no ack
     * in time; `too_large`: the message and its headers are over the server's `max_payload` (nothing was sent), or
     * over the stream's `max_msg_size` (the stream refused it): the message's own failure, on every attempt.
     */
    readonly kind: 'unreachable' | 'no_stream' | 'refused' | 'timeout' | 'too_large',
    message: string,
    /** Refused by the client before anything was sent (over the server's `max_payload`): the server was not asked. */
    readonly unsent = false,
  ) {
    super(message);
    this.name = 'NatsPublishError';
  }
}

/** The connection options a `nats://[user:pass@ | token@]host:port` (or `tls://`) URL stands for. */
export function natsConnectionOptions(url: string, name: string): NodeConnectionOptions {
  const parsed = new URL(url);
  const options: NodeConnectionOptions = {
    servers: `${parsed.hostname.includes(':') ? `[${parsed.hostname}]` : parsed.hostname}:${parsed.port || '4222'}`,
    name,
    // Reconnect for ever, quickly: a restarted server is found again within about half a second.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // nats.js otherwise gives up after two authorization errors in a row, whatever maxReconnectAttempts says, and
    // closes the connection for good: a server restarted briefly with other credentials, or a credential rotation
    // that reaches the server before the worker, would end NATS deliveries on this URL until the worker restarts.
    ignoreAuthErrorAbort: true,
    // A server that accepts the connection but never answers is given up on (and tried again) after 5 s.
    timeout: 5000,
    // A connection that went silent (no FIN) is noticed within ~20 s.
    pingInterval: 10_000,
    maxPingOut: 2,
  };
  if (parsed.username && parsed.password) {
    options.user = decodeURIComponent(parsed.username);
    options.pass = decodeURIComponent(parsed.password);
  } else if (parsed.username) options.token = decodeURIComponent(parsed.username);
  if (parsed.protocol === 'tls:') options.tls = {};
  return options;
}

/**
 * One long-lived connection to one NATS server (one URL), shared by every destination on it, reconnecting for ever
 * after the server restarts. Publishes are JetStream publishes: a request on the subject that the stream capturing it
 * answers with an ack once it stored the message. `Nats-Msg-Id` is the caller's message id (the same on every re-send
 * of one delivery), so the stream's duplicate window absorbs re-sends (the ack then says `duplicate`: the message was
 * stored already).
 *
 * Should nats.js close the connection for good all the same (it stops reconnecting on errors it deems fatal), a new
 * one is made half a second later, and tried every half second like the first: a dead connection is never kept.
 */
export class NatsConnection {
  private connection!: Promise<{ nc: CoreConnection; js: JetStreamClient }>;
  private connected = false;
  /** Why the connection is down (undefined while up, or before the first connection was made). */
  private downReason?: string;
  /** Failed when a connection attempt fails: publishes waiting for the first connection stop waiting. */
  private down = failureSignal();
  /**
   * Failed when the connection drops (and replaced by a new one): publishes sent on it and awaiting their ack end then.
   * nats.js neither fails nor re-sends a request in flight when its connection drops: its ack, if the server sent one,
   * went with the old connection, and what was still in the client's buffer is discarded when it reconnects. Such a
   * publish would otherwise wait out its whole `timeoutMs` (holding its destination's slot) for an ack that never
   * comes. Its retry carries the same `Nats-Msg-Id`, so a message the server stored before the drop is stored once.
   */
  private lost = failureSignal();
  /** The connection once made, the latest one (close() does not wait for one still being made). */
  private made?: CoreConnection;
  private closed = false;
  private readonly options: NodeConnectionOptions;
  private readonly where: string;

  constructor(
    readonly url: string,
    private readonly logger: Logger,
    connectionName: string,
    /** For tests: options over {@link natsConnectionOptions}'s (e.g. to let nats.js give up, as it may). */
    overrides: Partial<NodeConnectionOptions> = {},
  ) {
    this.where = withoutCredentials(url);
    this.options = { ...natsConnectionOptions(url, connectionName), ...overrides };
    this.open();
  }

  /**
   * Makes a connection (retrying until it is made) and watches it; publishes wait for it or fail with the reason.
   * A new connection after one closed for good is made half a second later, so a server that accepts connections
   * and has them closed at once is not dialled in a tight loop.
   */
  private open(pauseMs = 0): void {
    const { logger, where } = this;
    const again = this.downReason !== undefined;
    this.connection = delay(pauseMs).then(() => this.connectUntilUp()).then((nc) => {
      this.made = nc;
      this.connected = true;
      this.downReason = undefined;
      if (this.closed) void nc.close().catch(() => undefined);
      else if (again) logger.info('NATS connection re-established', { broker: where });
      void (async () => {
        for await (const status of nc.status()) {
          if (status.type === 'disconnect') {
            this.connected = false;
            this.downReason = `disconnected from ${where}`;
            this.dropInFlight();
            logger.warn('NATS connection lost; reconnecting', { broker: where });
          } else if (status.type === 'reconnect') {
            this.connected = true;
            this.downReason = undefined;
            logger.info('NATS connection re-established', { broker: where });
          }
        }
      })().catch(() => undefined);
      void nc.closed().then((error) => {
        if (this.closed) return;
        // nats.js gave up on this connection: it will not reconnect. Publishes fail at once with the reason (they
        // would otherwise wait on a dead connection) while a new connection is made. Logged once per outage:
        // connectUntilUp logs only when nothing was wrong before.
        this.connected = false;
        this.downReason = error ? `connection closed: ${error.message}` : 'connection closed';
        this.dropInFlight();
        logger.error('NATS connection closed for good; making a new one', { broker: where, error });
        this.open(500);
      });
      return { nc, js: jetstream(nc) };
    });
    this.connection.catch(() => undefined);
  }

  /**
   * A connection, tried again every half second until it is made (the worker may start before NATS, or with
   * credentials fixed later); meanwhile publishes fail at once with the reason. Once connected, the client's own
   * reconnection takes over.
   */
  private async connectUntilUp(): Promise<CoreConnection> {
    for (;;) {
      if (this.closed) throw new Error('closed before connecting');
      try {
        return await connect(this.options);
      } catch (error) {
        if (this.downReason === undefined) this.logger.warn('cannot connect to NATS; retrying', { broker: this.where, error });
        this.downReason = (error as Error).message || String(error);
        const signal = this.down;
        this.down = failureSignal();
        signal.fail(new NatsPublishError('unreachable', `NATS unreachable: ${this.downReason}`));
        await delay(500);
      }
    }
  }

  /** Ends every publish awaiting its ack on the connection that just dropped (see {@link lost}). */
  private dropInFlight(): void {
    const lost = this.lost;
    this.lost = failureSignal();
    lost.fail(new NatsPublishError('unreachable', `connection lost before JetStream acknowledged the message (${this.downReason}); the server may have stored it: a retry within the stream's duplicate window stores it once`));
  }

  /** Whether the connection is up now. */
  get isConnected(): boolean {
    return this.connected;
  }

  /** Why the server cannot be reached right now; undefined while connected or while the first connection is made. */
  get unreachableReason(): string | undefined {
    return this.connected ? undefined : this.downReason;
  }

  /**
   * One JetStream publish; resolves with the stream's ack, rejects with a {@link NatsPublishError}. `expired` is the
   * attempt's deadline: a publish still waiting for the connection then stops waiting and is never sent (sent once the
   * connection came up, it was stored for an attempt already recorded as failed).
   */
  async publish(subject: string, body: Buffer, messageId: string, headers: Record<string, string>, timeoutMs: number, expired?: AbortSignal): Promise<PubAck> {
    if (this.closed) throw new NatsPublishError('unreachable', 'the NATS connection is closed (shutting down)');
    const reason = this.unreachableReason;
    if (reason) throw new NatsPublishError('unreachable', `NATS unreachable: ${reason}`);
    const { nc, js } = await untilInterrupted(this.connection, [this.down], expired);
    if (expired?.aborted) throw expired.reason;
    const carried = natsHeaders();
    for (const [name, value] of Object.entries(headers)) carried.set(name, value);
    try {
      return await untilInterrupted(js.publish(subject, body, { msgID: messageId, headers: carried, timeout: timeoutMs }), [this.lost]);
    } catch (error) {
      if (error instanceof NatsPublishError) throw error;
      if (isOverMaxPayload(error)) throw overMaxPayload(body.length, encodedLength(carried), nc.info?.max_payload);
      throw describe(error, subject, timeoutMs);
    }
  }

  /**
   * The `duplicate_window` of `stream`, in ms, from its info (JetStream API `STREAM.INFO`, which a user allowed only to
   * publish may be refused); rejects when it cannot be read within 5 s.
   */
  async duplicateWindowMs(stream: string): Promise<number> {
    const { nc } = await untilInterrupted(this.connection, [this.down]);
    const manager = await jetstreamManager(nc, { checkAPI: false, timeout: 5000 });
    const info = await manager.streams.info(stream);
    return info.config.duplicate_window / 1_000_000;
  }

  /** Closes the connection after flushing what was sent (given up on after 2 s, so it cannot hold the drain). */
  async close(): Promise<void> {
    this.closed = true;
    // A connection still being made is closed as soon as it is (see open()), not waited for here.
    if (this.made) await withinDeadline(this.made.close(), 2000).catch(() => undefined);
  }
}

/** nats.js refuses, before sending, a message whose payload and headers are over the server's `max_payload`. */
function isOverMaxPayload(error: unknown): boolean {
  return (error as Error)?.name === 'InvalidArgumentError' && /max_payload/.test((error as Error).message);
}

/** The size of headers as sent (`NATS/1.0` line, every header, blank line); nats.js's headers encode themselves. */
function encodedLength(headers: ReturnType<typeof natsHeaders>): number {
  return (headers as unknown as { encode(): Uint8Array }).encode().length;
}

/**
 * A message the server can never take: NATS's default `max_payload` (1 MiB) equals MAX_BODY_BYTES's default, and
 * the headers (signature, trace context, `Nats-Msg-Id`, …) come on top, so an event near the body limit is over it.
 * Every retry fails the same way until the server's `max_payload` is raised (or MAX_BODY_BYTES lowered); the sizes
 * say by how much. Retried like any failed attempt all the same: raising `max_payload` lets the retries through.
 */
function overMaxPayload(bodyBytes: number, headerBytes: number, maxPayload: number | undefined): NatsPublishError {
  const limit = maxPayload === undefined ? "the server's max_payload" : `the server's max_payload of ${maxPayload} bytes`;
  return new NatsPublishError(
    'too_large',
    `message too large for NATS: ${bodyBytes + headerBytes} bytes (payload ${bodyBytes} + headers ${headerBytes}) is over ${limit}; nothing was sent (raise max_payload on the server, or lower MAX_BODY_BYTES)`,
    true,
  );
}

/** JetStream's err_code for a message over the stream's `max_msg_size` (JSStreamMessageExceedsMaximumErr). */
const STREAM_MESSAGE_EXCEEDS_MAXIMUM = 10054;

function describe(error: unknown, subject: string, timeoutMs: number): NatsPublishError {
  // No responders: nothing answers a publish on this subject, i.e. no stream captures it (or JetStream is off). The
  // client reports it as JetStreamNotEnabled, caused by the request's no-responders error.
  const cause = (error as { cause?: unknown })?.cause;
  if ((error as Error)?.name === 'JetStreamNotEnabled' || (cause instanceof RequestError && cause.isNoResponders())) {
    return new NatsPublishError('no_stream', `no JetStream stream captures subject "${subject}" (no responders; is JetStream enabled?)`);
  }
  if (error instanceof JetStreamApiError) {
    const kind = error.code === STREAM_MESSAGE_EXCEEDS_MAXIMUM ? 'too_large' : 'refused';
    return new NatsPublishError(kind, `JetStream refused the message on "${subject}": ${error.message} (err_code ${error.code})`);
  }
  const name = (error as Error)?.name ?? 'Error';
  if (name === 'TimeoutError') return new NatsPublishError('timeout', `no ack from JetStream within ${timeoutMs} ms`);
  return new NatsPublishError('refused', `${name}: ${(error as Error)?.message ?? String(error)}`);
}
