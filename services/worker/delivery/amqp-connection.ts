import amqp, { type ConfirmChannel, type Message, type Options, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from '../../shared/logging/logger.js';
import { AmqpExchangeDeclarations } from './amqp-exchange-declarations.js';
import { AmqpPublishError } from './amqp-publish-error.js';
import { failureSignal, withinDeadline } from './deadline.js';
import { withoutCredentials } from './url-without-credentials.js';

/** The properties a publish sets; persistence and `mandatory` are always on. */
export type AmqpMessageProperties = Pick<Options.Publish, 'messageId' | 'contentType' | 'headers' | 'timestamp' | 'type' | 'appId'> & {
  messageId: string;
};

/** The confirm channel in use, with the returns (unroutable messages) it reported and whose confirm has not come yet. */
interface ConfirmChannelState {
  channel: ConfirmChannel;
  /** `exchange \0 routingKey \0 messageId` → returns not yet matched with their confirm, and why they came back. */
  returned: Map<string, { count: number; reason: string }>;
}

/** amqplib's reconnection: quick first retries, then every ~2 s while the broker stays down (never giving up). */
const RECOVERY = { initialDelay: 100, maxDelay: 2000, factor: 2, jitter: 0.2, waitForConnect: false } as const;

/**
 * One long-lived connection to one RabbitMQ (one URL), shared by every destination on it, re-established by
 * amqplib's recovery after the broker restarts or the network drops it, with backoff and for ever. Publishes share
 * one confirm channel (confirms are per message, so concurrent publishes do not wait for each other); exchanges are
 * declared each on a channel of its own ({@link AmqpExchangeDeclarations}), because a declaration the broker refuses
 * closes its channel. The confirm channel is opened again on the next publish after it closed. Nothing is re-sent here: a publish whose confirm was lost is the
 * caller's failed attempt, retried later with the same `messageId`.
 */
export class AmqpConnection {
  private readonly model: Promise<RecoveringChannelModel>;
  private confirmChannel?: Promise<ConfirmChannelState>;
  private readonly exchanges: AmqpExchangeDeclarations;
  private connected = false;
  private connectedBefore = false;
  /** Why the connection is down (undefined while up, or before the first attempt ended). */
  private downReason?: string;
  /** Failed when a connection attempt fails or the connection drops: publishes waiting for a connection stop waiting. */
  private down = failureSignal();
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
    this.exchanges = new AmqpExchangeDeclarations(() => this.model.then((model) => model.createChannel()), logger, refusedDeclarationHoldMs);
    this.model
      .then((model) => {
        model.on('connect', () => {
          const again = this.connectedBefore;
          this.connected = true;
          this.connectedBefore = true;
          const wasDown = this.downReason !== undefined;
          this.downReason = undefined;
          // What was declared on the previous connection is declared again (the broker may have restarted empty);
          // on the first, the declarations already under way are this connection's.
          if (again) this.exchanges.forgetAll();
          if (wasDown) logger.info('RabbitMQ connection re-established', { broker: where });
        });
        model.on('disconnect', (error: Error) => {
          this.connected = false;
          this.markDown(error.message || 'connection closed');
          logger.warn('RabbitMQ connection lost; reconnecting', { broker: where, reason: this.downReason });
        });
        model.on('connect-failed', (error: Error) => {
          const first = this.downReason === undefined;
          this.markDown(error.message || String(error));
          if (first) logger.warn('cannot connect to RabbitMQ; retrying', { broker: where, reason: this.downReason });
        });
        model.on('blocked', (reason: string) => logger.warn('RabbitMQ blocked publishing (resource alarm)', { broker: where, reason }));
        model.on('unblocked', () => logger.info('RabbitMQ unblocked publishing', { broker: where }));
        // A connection error is followed by 'disconnect' (and recovery); without a listener it would be thrown.
        model.on('error', (error: Error) => logger.debug('RabbitMQ connection error', { broker: where, error }));
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

  /**
   * Publishes one persistent message, `mandatory`, on the shared confirm channel, declaring the exchange first (once
   * per connection). Resolves when the broker confirmed it; rejects with an {@link AmqpPublishError} otherwise.
   * Bound it with a deadline: it waits for a connection while the first one is being made.
   */
  async publish(exchange: string, routingKey: string, body: Buffer, properties: AmqpMessageProperties): Promise<void> {
    if (this.closed) throw new AmqpPublishError('unreachable', 'the RabbitMQ connection is closed (shutting down)');
    const reason = this.unreachableReason;
    if (reason) throw new AmqpPublishError('unreachable', `RabbitMQ unreachable: ${reason}`);
    // Waiting for a connection (the first one, or one being re-made) ends as soon as an attempt to make it fails.
    const down = this.down.failed;
    await Promise.race([this.exchanges.declare(exchange), down]);
    const state = await Promise.race([this.confirmChannelState(), down]);
    const key = `${exchange}\u0000${routingKey}\u0000${properties.messageId}`;
    await new Promise<void>((resolve, reject) => {
      const confirmed = (error: Error | null) => {
        const returned = takeReturn(state, key);
        if (error) {
          reject(
            error.message === 'message nacked'
              ? new AmqpPublishError('nacked', `RabbitMQ refused the message (basic.nack) on exchange "${exchange}"`)
              : new AmqpPublishError('lost', `the RabbitMQ channel closed before the broker confirmed the message (${this.downReason ?? error.message})`),
          );
        } else if (returned) {
          reject(new AmqpPublishError('unroutable', `unroutable: no queue is bound to exchange "${exchange}" for routing key "${routingKey}" (${returned})`));
        } else resolve();
      };
      try {
        state.channel.publish(exchange, routingKey, body, { ...properties, persistent: true, mandatory: true }, confirmed);
      } catch (error) {
        // amqplib throws at once on a channel that has closed (before its 'close' event reached us).
        reject(new AmqpPublishError('lost', `the RabbitMQ channel is closed: ${(error as Error).message}`));
      }
    });
  }

  private markDown(reason: string): void {
    this.downReason = reason;
    const signal = this.down;
    this.down = failureSignal();
    signal.fail(new AmqpPublishError('unreachable', `RabbitMQ unreachable: ${reason}`));
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

  private confirmChannelState(): Promise<ConfirmChannelState> {
    if (!this.confirmChannel) {
      const opening: Promise<ConfirmChannelState> = this.model
        .then((model) => model.createConfirmChannel())
        .then((channel) => {
          const state: ConfirmChannelState = { channel, returned: new Map() };
          // The broker sends an unroutable message back (basic.return) before it confirms it.
          channel.on('return', (message: Message) => {
            const key = `${message.fields.exchange}\u0000${message.fields.routingKey}\u0000${String(message.properties.messageId)}`;
            const entry = state.returned.get(key);
            const reason = `${(message.fields as { replyCode?: number }).replyCode ?? ''} ${(message.fields as { replyText?: string }).replyText ?? 'returned'}`.trim();
            state.returned.set(key, { count: (entry?.count ?? 0) + 1, reason });
          });
          channel.on('close', () => {
            if (this.confirmChannel === opening) this.confirmChannel = undefined;
          });
          channel.on('error', (error: Error) => {
            // E.g. 404: the exchange was deleted since it was declared; declare it again on the next publish.
            this.exchanges.forgetAll();
            this.logger.warn('RabbitMQ publishing channel closed by the broker', { error });
          });
          return state;
        });
      opening.catch(() => {
        if (this.confirmChannel === opening) this.confirmChannel = undefined;
      });
      this.confirmChannel = opening;
    }
    return this.confirmChannel;
  }
}

/** Consumes one recorded return for `key` (one per message published with it), with its reason. */
function takeReturn(state: ConfirmChannelState, key: string): string | undefined {
  const entry = state.returned.get(key);
  if (!entry) return undefined;
  if (entry.count <= 1) state.returned.delete(key);
  else entry.count--;
  return entry.reason;
}
