import type { ConfirmChannel, Message, Options } from 'amqplib';
import { channelCloseOf, type AmqpChannelClose } from './amqp-channel-close.js';
import { AmqpPublishError } from './amqp-publish-error.js';

/** The properties a publish sets; persistence and `mandatory` are always on. */
export type AmqpMessageProperties = Pick<Options.Publish, 'messageId' | 'contentType' | 'headers' | 'timestamp' | 'type' | 'appId'> & {
  messageId: string;
};

/**
 * One confirm channel, with what a publish on it needs to know: the returns (unroutable messages) reported and not
 * yet matched with their confirm, and why the broker closed it (a channel error). Confirms are per message, so
 * concurrent publishes on one channel do not wait for each other.
 */
export class AmqpConfirmChannel {
  /** `exchange \0 routingKey \0 messageId` → returns not yet matched with their confirm, and why they came back. */
  private readonly returned = new Map<string, { count: number; reason: string }>();
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
      try {
        this.channel.publish(exchange, routingKey, body, { ...properties, persistent: true, mandatory: true }, confirmed);
      } catch (error) {
        // amqplib throws at once on a channel that has closed (before its 'close' event reached us).
        reject(this.lost(error as Error));
      }
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
