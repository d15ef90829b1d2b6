import amqp, { type Channel, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from '../../shared/logging/logger.js';
import { exchangeNamedBy, isCauseOf, maxMessageSizeNamedBy, type AmqpChannelClose } from './amqp-channel-close.js';
import { writtenOut } from './amqp-channel-written-out.js';
import { AmqpConfirmChannel, type AmqpMessageProperties } from './amqp-confirm-channel.js';
import { AmqpExchangeDeclarations } from './amqp-exchange-declarations.js';
import { AmqpPublishError } from './amqp-publish-error.js';
import { failureSignal, untilInterrupted, withinDeadline, type FailureSignal } from './deadline.js';
import { withoutCredentials } from './url-without-credentials.js';

export type { AmqpMessageProperties } from './amqp-confirm-channel.js';

/** amqplib's reconnection: quick first retries, then every ~2 s while the broker stays down (never giving up). */
const RECOVERY = { initialDelay: 100, maxDelay: 2000, factor: 2, jitter: 0.2, waitForConnect: false } as const;

/**
 * One long-lived connection to one RabbitMQ (one URL), shared by every destination on it, re-established by
 * amqplib's recovery after the broker restarts or the network drops it, with backoff and for ever. Each destination
 * publishes on a confirm channel of its own ({@link AmqpConfirmChannel}), opened on its first publish and again on the
 * next one after it closed; exchanges are declared each on a channel of its own ({@link AmqpExchangeDeclarations}):
 * a message or declaration the broker refuses closes its channel, and with it every publish awaiting a confirm there.
 *
 * A message is written only when it can be taken: not while the broker blocks publishing (connection.blocked, a
 * resource alarm: it stops reading the socket, so every message written would wait there and be delivered once the
 * alarm clears, long after its attempt failed: one copy per attempt), and not while the channel's write buffer is
 * full. Such a publish fails at once (blocked) or at its deadline (buffer still full), with nothing sent.
 *
 * One message's channel error (406 over `max_message_size`, 404 its exchange deleted) closes its destination's channel
 * and ends every publish awaiting a confirm there; other destinations' channels stay open, so their messages are
 * neither failed nor sent again for it. (On one shared channel they were re-sent, and RabbitMQ had routed most of them
 * already: each such message was enqueued twice.) The message it names fails with the broker's reason; the
 * destination's others, lost only to it, are sent again once, each on a channel of its own, so they do not fail for
 * it, and a message the broker's words did not name but that caused it fails alone. Those written before it may have
 * been routed already: they may be in their queue twice, with one `messageId`. Otherwise nothing is re-sent here: a
 * publish whose confirm was lost is the caller's failed attempt, retried later with the same `messageId` (at least
 * once).
 */
export class AmqpConnection {
  private readonly model: Promise<RecoveringChannelModel>;
  /** Each destination's confirm channel (opening or open), by the name it publishes under; removed once closed. */
  private readonly confirmChannels = new Map<string, Promise<AmqpConfirmChannel>>();
  private readonly exchanges: AmqpExchangeDeclarations;
  private connected = false;
  private connectedBefore = false;
  /** Why the connection is down (undefined while up, or before the first attempt ended). */
  private downReason?: string;
  /**
   * The first error the connection emitted since it was made: the one its close (next) is over. amqplib closing the
   * connection itself over a protocol error it found in what the broker sent (a frame on a channel it never opened,
   * an unexpected frame) says why only here: the close that follows the broker's close-ok carries no error.
   */
  private connectionError?: Error;
  /** Failed when a connection attempt fails or the connection drops: publishes waiting for a connection stop waiting. */
  private down = failureSignal();
  /** Why RabbitMQ blocks publishing on this connection (connection.blocked), while it does. */
  private blockedReason?: string;
  /** Failed when RabbitMQ blocks publishing: publishes not yet written stop waiting and fail. */
  private blocking = failureSignal();
  /** Channels the broker closed whose last frames are still being written: no channel is opened before they are out. */
  private readonly closing = new Set<Promise<void>>();
  private closed = false;

  constructor(
    readonly url: string,
    private readonly logger: Logger,
    connectionName: string,
    /** For tests: how long a refused exchange declaration stands (see {@link AmqpExchangeDeclarations}). */
    refusedDeclarationHoldMs?: number,
  ) {
    const where = withoutCredentials(url);
    // Heartbeats every 15 s unless the URL sets them: a connection that went silent (no FIN) is noticed and re-made.
    const connectUrl = new URL(url);
    if (!connectUrl.searchParams.has('heartbeat')) connectUrl.searchParams.set('heartbeat', '15');
    this.model = amqp.connect(connectUrl.toString(), {
      recovery: RECOVERY,
      clientProperties: { connection_name: connectionName },
      timeout: 5000,
    });
    this.exchanges = new AmqpExchangeDeclarations(() => this.openChannel((model) => model.createChannel()), logger, refusedDeclarationHoldMs);
    this.model
      .then((model) => {
        model.on('connect', () => {
          const again = this.connectedBefore;
          this.connected = true;
          this.connectedBefore = true;
          const wasDown = this.downReason !== undefined;
          this.downReason = undefined;
          this.connectionError = undefined;
          // A new connection is not blocked until the broker says so.
          this.blockedReason = undefined;
          // What was declared on the previous connection is declared again (the broker may have restarted empty);
          // on the first, the declarations already under way are this connection's.
          if (again) this.exchanges.forgetAll();
          if (wasDown) logger.info('RabbitMQ connection re-established', { broker: where });
        });
        model.on('disconnect', (error: Error) => {
          this.connected = false;
          this.blockedReason = undefined;
          const cause = this.connectionError;
          this.connectionError = undefined;
          this.markDown(cause && cause !== error ? closedOverReason(cause) : connectionLossReason(error));
          logger.warn('RabbitMQ connection lost; reconnecting', { broker: where, reason: this.downReason });
        });
        model.on('connect-failed', (error: Error) => {
          const first = this.downReason === undefined;
          this.markDown(error.message || String(error));
          if (first) logger.warn('cannot connect to RabbitMQ; retrying', { broker: where, reason: this.downReason });
        });
        model.on('blocked', (reason: string) => {
          this.markBlocked(reason || 'resource alarm');
          logger.warn('RabbitMQ blocked publishing (resource alarm); publishes fail at once until it unblocks', { broker: where, reason });
        });
        model.on('unblocked', () => {
          this.blockedReason = undefined;
          logger.info('RabbitMQ unblocked publishing', { broker: where });
        });
        // A connection error is followed by 'disconnect' (and recovery); without a listener it would be thrown. Kept
        // until then: a close amqplib made over it carries no error of its own (see connectionError).
        model.on('error', (error: Error) => {
          this.connectionError ??= error;
          logger.debug('RabbitMQ connection error', { broker: where, error });
        });
      })
      .catch((error: unknown) => logger.error('RabbitMQ connection could not be set up', { broker: where, error }));
  }

  /** Whether the connection is up now. */
  get isConnected(): boolean {
    return this.connected;
  }

  /**
   * Why the broker cannot be reached right now, or undefined when it is connected or the first connection is still
   * being made. A publish then fails at once rather than holding its job while the broker is down.
   */
  get unreachableReason(): string | undefined {
    return this.connected ? undefined : this.downReason;
  }

  /** Why RabbitMQ holds publishes on this connection now (a resource alarm blocks it), or undefined. */
  get heldReason(): string | undefined {
    return this.blockedReason === undefined ? undefined : `RabbitMQ blocked publishing: ${this.blockedReason}`;
  }

  /**
   * Publishes one persistent message, `mandatory`, on the confirm channel of `publisher` (the destination's name; by
   * default the exchange's), declaring the exchange first (once per connection). Resolves when the broker confirmed
   * it; rejects with an {@link AmqpPublishError} otherwise. `expired` is the attempt's deadline: once it is aborted
   * nothing more is written (a message written after its attempt gave up would be a copy nobody waits for), and a
   * publish waiting for the write buffer fails, saying so.
   */
  async publish(
    exchange: string,
    routingKey: string,
    body: Buffer,
    properties: AmqpMessageProperties,
    expired?: AbortSignal,
    publisher: string = exchange,
  ): Promise<void> {
    if (this.closed) throw new AmqpPublishError('unreachable', 'the RabbitMQ connection is closed (shutting down)');
    const reason = this.unreachableReason;
    if (reason) throw new AmqpPublishError('unreachable', `RabbitMQ unreachable: ${reason}`);
    this.refuseWhileBlocked();
    // Waiting for a connection (the first one, or one being re-made), a declaration or a channel ends as soon as an
    // attempt to connect fails, the broker blocks publishing, or the attempt's time is up.
    const interruptions = this.interruptions();
    await untilInterrupted(this.exchanges.declare(exchange), interruptions, expired);
    const channel = await untilInterrupted(this.confirmChannel(publisher), interruptions, expired);
    try {
      await this.publishOn(channel, exchange, routingKey, body, properties, expired);
    } catch (error) {
      const close = error instanceof AmqpPublishError && error.kind === 'lost' ? error.channelClose : undefined;
      if (!close) throw error;
      if (isCauseOf(close, exchange, body.length)) throw refusedOver(close);
      // Lost only because its channel closed, for another of its destination's messages (or one the broker's words
      // did not name).
      await this.publishOnItsOwnChannel(exchange, routingKey, body, properties, expired);
    }
  }

  /**
   * Stops reconnecting and closes the connection; publishes awaiting a confirm fail as `lost`. A broker that does not
   * answer the close is given up on after 2 s, so it cannot hold the drain.
   */
  async close(): Promise<void> {
    this.closed = true;
    const model = await this.model.catch(() => undefined);
    if (model) await withinDeadline(model.close(), 2000).catch(() => undefined);
  }

  /**
   * A publish lost to its destination's channel closing, sent again once on a channel opened for it (and closed after),
   * while its attempt has time: whatever the message does there concerns it alone. Should the broker close that
   * channel too, the message caused it, and fails with the broker's reason.
   */
  private async publishOnItsOwnChannel(exchange: string, routingKey: string, body: Buffer, properties: AmqpMessageProperties, expired?: AbortSignal): Promise<void> {
    const opening = this.openConfirmChannel();
    let channel: AmqpConfirmChannel;
    try {
      channel = await untilInterrupted(opening, this.interruptions(), expired);
    } catch (error) {
      // A channel that opens after its publish stopped waiting for it is closed unused.
      opening.then((late) => late.close(), () => undefined);
      throw error;
    }
    try {
      await this.publishOn(channel, exchange, routingKey, body, properties, expired);
    } catch (error) {
      const close = error instanceof AmqpPublishError && error.kind === 'lost' ? error.channelClose : undefined;
      throw close ? refusedOver(close) : error;
    } finally {
      channel.close();
    }
  }

  /** Writes the message on `channel` once it may be written, and awaits the broker's confirm. */
  private async publishOn(channel: AmqpConfirmChannel, exchange: string, routingKey: string, body: Buffer, properties: AmqpMessageProperties, expired?: AbortSignal): Promise<void> {
    for (let full = channel.full; full; full = channel.full) {
      await untilInterrupted(full, this.interruptions(), expired, backlogged);
    }
    // Nothing is written once the attempt is over, or while the broker blocks publishing.
    if (expired?.aborted) throw expired.reason;
    this.refuseWhileBlocked();
    try {
      await channel.publish(exchange, routingKey, body, properties);
    } catch (error) {
      if (error instanceof AmqpPublishError && error.kind === 'lost') {
        if (error.channelClose) this.forgetDeclarationAfter(error.channelClose);
        // Closed with the connection: the connection's reason is the one that explains it. While amqplib closes it
        // over an error (awaiting the broker's close-ok), a publish fails with "Connection closing": that error says why.
        else {
          const reason = this.downReason ?? (this.connectionError && closedOverReason(this.connectionError));
          if (reason) throw new AmqpPublishError('lost', `the connection to RabbitMQ was lost before the broker confirmed the message (${reason})`);
        }
      }
      throw error;
    }
  }

  /**
   * What ends a wait from now on besides the attempt's time (see {@link untilInterrupted}, which listens to them only
   * while it waits): an attempt to connect failing (or the connection dropping), the broker blocking publishing.
   */
  private interruptions(): FailureSignal[] {
    return [this.down, this.blocking];
  }

  private refuseWhileBlocked(): void {
    const held = this.heldReason;
    if (held) throw new AmqpPublishError('blocked', `${held}; nothing was sent`);
  }

  /** A 404 naming an exchange: it was deleted since it was declared; declared again on the next publish. */
  private forgetDeclarationAfter(close: AmqpChannelClose): void {
    const exchange = exchangeNamedBy(close);
    if (close.code === 404 && exchange !== undefined) this.exchanges.forget(exchange);
  }

  private markDown(reason: string): void {
    this.downReason = reason;
    const signal = this.down;
    this.down = failureSignal();
    signal.fail(new AmqpPublishError('unreachable', `RabbitMQ unreachable: ${reason}`));
  }

  private markBlocked(reason: string): void {
    this.blockedReason = reason;
    const signal = this.blocking;
    this.blocking = failureSignal();
    signal.fail(new AmqpPublishError('blocked', `RabbitMQ blocked publishing: ${reason}; nothing was sent`));
  }

  private async openConfirmChannel(): Promise<AmqpConfirmChannel> {
    return new AmqpConfirmChannel(await this.openChannel((model) => model.createConfirmChannel()));
  }

  /**
   * Opens a channel once the channels the broker closed have written out their last frames (see {@link writtenOut}),
   * and watches it: when the broker closes it in turn, channels opened after wait for it.
   */
  private async openChannel<T extends Channel>(open: (model: RecoveringChannelModel) => Promise<T>): Promise<T> {
    const model = await this.model;
    while (this.closing.size > 0) await Promise.all(this.closing);
    const channel = await open(model);
    // Emitted when the broker closes the channel, before amqplib frees its number.
    channel.on('error', () => {
      const out = writtenOut(channel);
      this.closing.add(out);
      void out.then(() => this.closing.delete(out));
    });
    return channel;
  }

  /** `publisher`'s confirm channel, opened when it has none (or its last one closed). */
  private confirmChannel(publisher: string): Promise<AmqpConfirmChannel> {
    let channel = this.confirmChannels.get(publisher);
    if (!channel) {
      const forget = () => {
        if (this.confirmChannels.get(publisher) === opening) this.confirmChannels.delete(publisher);
      };
      const opening: Promise<AmqpConfirmChannel> = this.openConfirmChannel().then((opened) => {
        opened.channel.on('close', forget);
        opened.channel.on('error', (error: Error) => this.logger.warn('RabbitMQ publishing channel closed by the broker', { publisher, error }));
        return opened;
      });
      opening.catch(forget);
      this.confirmChannels.set(publisher, opening);
      channel = opening;
    }
    return channel;
  }
}

/**
 * A message the broker closed its channel over: its reply code and text say why. Over `max_message_size` it is the
 * message's own failure (`too_large`: every attempt of it fails so), otherwise the destination's (`channel_error`).
 */
function refusedOver(close: AmqpChannelClose): AmqpPublishError {
  const kind = maxMessageSizeNamedBy(close) === undefined ? 'channel_error' : 'too_large';
  return new AmqpPublishError(kind, `RabbitMQ refused the message and closed its channel: ${close.reason}`);
}

/**
 * Why the connection ended, as the 'disconnect' event says it: the broker's close (`Connection closed: 320 …`), a
 * socket error (`read ECONNRESET`), a heartbeat timeout. A socket the other side ended without an AMQP
 * `connection.close` is amqplib's bare "Unexpected close", which in a recorded error read as if a channel had failed
 * on its own; it is said as what it is.
 */
function connectionLossReason(error: Error): string {
  if (error.message === 'Unexpected close') {
    return "the broker's side closed the TCP connection without an AMQP close (the broker stopped, or a proxy or the network cut it)";
  }
  return error.message || 'connection closed';
}

/**
 * Why the connection ended when amqplib closed it over an error it emitted first, its close carrying none ("Connection
 * closed"): a protocol error in what the broker sent (`Frame on unknown channel: { … channel: 999 … }`, an unexpected
 * frame). amqplib's words, on one line (they hold the frame as util.inspect prints it).
 */
function closedOverReason(error: Error): string {
  const words = (error.message || String(error)).replace(/\s+/g, ' ').trim();
  return `amqplib closed the connection over a protocol error in what the broker sent: ${words}`;
}

/** A publish that waited for the write buffer until its attempt's deadline: nothing was sent. */
function backlogged(): AmqpPublishError {
  return new AmqpPublishError(
    'backlogged',
    'not sent: the connection to RabbitMQ is not taking the messages already written (its write buffer stayed full until the deadline)',
  );
}
