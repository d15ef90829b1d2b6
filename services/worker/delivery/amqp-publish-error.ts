import type { AmqpChannelClose } from './amqp-channel-close.js';

/** Why RabbitMQ did not take a message; the publisher reports each as a failed attempt with this message. */
export class AmqpPublishError extends Error {
  constructor(
    /**
     * `unreachable`: no connection (the broker is down or refuses us); `lost`: the connection or channel closed before
     * the broker confirmed; `nacked`: the broker refused it (basic.nack, e.g. a queue at its length limit that
     * rejects publishes); `unroutable`: no queue is bound for the routing key (returned: published `mandatory`);
     * `exchange`: the exchange could not be declared as a durable topic exchange; `channel_error`: the broker closed
     * the channel over this message (its reply code and text say why: 404 no exchange, 403 no write permission);
     * `too_large`: the broker closed the channel over this message for its size (406 over `max_message_size`), as it
     * will on every attempt: the message's own failure, not the destination's;
     * `blocked`: RabbitMQ blocks publishing on the connection (a resource alarm), so nothing was sent; `backlogged`:
     * the connection's write buffer stayed full until the attempt's deadline, so nothing was sent.
     */
    readonly kind: 'unreachable' | 'lost' | 'nacked' | 'unroutable' | 'exchange' | 'channel_error' | 'too_large' | 'blocked' | 'backlogged',
    message: string,
    /** For `lost`: why the broker closed the channel, when it did (a channel error, maybe another message's). */
    readonly channelClose?: AmqpChannelClose,
  ) {
    super(message);
    this.name = 'AmqpPublishError';
  }
}
