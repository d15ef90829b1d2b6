import type { ConfirmChannel, Message, Options } from 'amqplib';
import { channelCloseOf, type AmqpChannelClose } from './amqp-channel-close.js';
import { AmqpPublishError } from './amqp-publish-error.js';

/** The properties a publish sets; persistence and `mandatory` are always on. */
export type AmqpMessageProperties = Pick<Options.Publish, 'messageId' | 'contentType' | 'headers' | 'timestamp' | 'type' | 'appId'> & {
  messageId: string;
};

/**
 * One confirm channel, with what a publish on it needs to know: the returns (unroutable messages) reported and not
 * yet matched with their confirm, why the broker closed it (a channel error), and whether its write buffer takes
 * more. Confirms are per message, so concurrent publishes on one channel do not wait for each other.
 */
export class AmqpConfirmChannel {
  /** `exchange \0 routingKey \0 messageId` → returns not yet matched with their confirm, and why they came back. */
  private readonly returned = new Map<string, { count: number; reason: string }>();
  /** While the write buffer is full (a publish returned false): settled at its next 'drain', or when the channel closes. */
  private drained?: Promise<void>;
  /** Why the broker closed the channel, once it did (undefined while open, or when it closed with its connection). */
  closedBy?: AmqpChannelClose;

  constructor(readonly channel: ConfirmChannel) {
    // The broker sends an unroutable message back (basic.return) before it confirms it.
    channel.on('return', (message: Message) => {
      const key = returnKey(message.fields.exchange, message.fields.routingKey, String(message.properties.messageId));
      const entry = this.returned.get(key);
      const fields = message.fields as { replyCode?: number; replyText?: string };
      const reason = `${fields.replyCode ?? ''} ${fields.replyText ?? 'returned'}`.trim();
      this.returned.set(key, { count: (entry?.count ?? 0) + 1, reason });
    });
    // Emitted before 'close', whose handler (amqplib's) fails the publishes awaiting a confirm: they find it here.
    channel.on('error', (error: Error) => {
      this.closedBy = channelCloseOf(error);
    });
  }

  /**
   * Undefined while a message may be written; while the channel's write buffer is full (the socket is not taking
   * what was written: a broker that stopped reading, a slow network), a promise settled once it drained or the
   * channel closed. A message is written only then: each one written meanwhile would wait in this process's memory,
   * be sent whenever the connection moves again, and be confirmed long after its attempt gave up on it.
   */
  get full(): Promise<void> | undefined {
    return this.drained;
  }

  /**
   * Writes one persistent, `mandatory` message and resolves once the broker confirmed it; rejects with an
   * {@link AmqpPublishError}: `nacked`, `unroutable`, or `lost` (the channel closed first; `channelClose` says why
   * when the broker closed it).
   */
  publish(exchange: string, routingKey: string, body: Buffer, properties: AmqpMessageProperties): Promise<void> {
    const key = returnKey(exchange, routingKey, properties.messageId);
    return new Promise<void>((resolve, reject) => {
      const confirmed = (error: Error | null) => {
        const returned = this.takeReturn(key);
        if (error) {
          reject(
            error.message === 'message nacked'
              ? new AmqpPublishError('nacked', `RabbitMQ refused the message (basic.nack) on exchange "${exchange}"`)
              : this.lost(error),
          );
        } else if (returned) {
          reject(new AmqpPublishError('unroutable', `unroutable: no queue is bound to exchange "${exchange}" for routing key "${routingKey}" (${returned})`));
        } else resolve();
      };
      let written: boolean;
      try {
        written = this.channel.publish(exchange, routingKey, body, { ...properties, persistent: true, mandatory: true }, confirmed);
      } catch (error) {
        // amqplib throws at once on a channel that has closed (before its 'close' event reached us).
        reject(this.lost(error as Error));
        return;
      }
      if (!written) this.drained ??= this.nextDrain();
    });
  }

  /** Closes the channel (not waited for; a channel already closed is left alone). */
  close(): void {
    this.channel.close().catch(() => undefined);
  }

  private lost(error: Error): AmqpPublishError {
    const detail = this.closedBy ? this.closedBy.reason : error.message;
    return new AmqpPublishError('lost', `the RabbitMQ channel closed before the broker confirmed the message (${detail})`, this.closedBy);
  }

  private nextDrain(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.channel.off('drain', done);
        this.channel.off('close', done);
        this.drained = undefined;
        resolve();
      };
      this.channel.on('drain', done);
      this.channel.on('close', done);
    });
  }

  /** Consumes one recorded return for `key` (one per message published with it), with its reason. */
  private takeReturn(key: string): string | undefined {
    const entry = this.returned.get(key);
    if (!entry) return undefined;
    if (entry.count <= 1) this.returned.delete(key);
    else entry.count--;
    return entry.reason;
  }
}

function returnKey(exchange: string, routingKey: string, messageId: string): string {
  return `${exchange}\u0000${routingKey}\u0000${messageId}`;
}
