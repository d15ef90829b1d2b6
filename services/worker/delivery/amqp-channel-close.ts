/**
 * Why RabbitMQ closed a channel: a channel error, with its reply code and text, as amqplib's channel 'error' event
 * reports it (`Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - …"`). One
 * operation causes it, but it ends every publish awaiting its confirm on that channel.
 */
export interface AmqpChannelClose {
  /** The AMQP reply code (404, 406, …), when the error carried one. */
  code: number | undefined;
  /** The broker's words: `404 (NOT-FOUND) with message "NOT_FOUND - no exchange 'x' in vhost '/'"`. */
  reason: string;
}

export function channelCloseOf(error: Error & { code?: unknown }): AmqpChannelClose {
  return { code: typeof error.code === 'number' ? error.code : undefined, reason: error.message.replace(/^Channel closed by server: /, '') };
}

/**
 * Whether the broker's words pin the close on this publish: they name its exchange (404 `no exchange 'x'`, 403
 * `access to exchange 'x' … refused`), or a size limit its body is over (406 `message size N is larger than configured
 * max size M`). False also when they cannot tell: a publish then is sent again on a channel of its own, where a
 * message that did cause the error fails alone.
 */
export function isCauseOf(close: AmqpChannelClose, exchange: string, bodyBytes: number): boolean {
  const maxSize = maxMessageSizeNamedBy(close);
  if (maxSize !== undefined) return bodyBytes > maxSize;
  return exchangeNamedBy(close) === exchange;
}

/** The broker's `max_message_size` when its words say a message was over it (406 `… larger than configured max size M`). */
export function maxMessageSizeNamedBy(close: AmqpChannelClose): number | undefined {
  const overSize = /message size \d+ is larger than configured max size (\d+)/.exec(close.reason);
  return overSize ? Number(overSize[1]) : undefined;
}

/** The exchange the broker's words name (404 no exchange, 403 access refused), if any. */
export function exchangeNamedBy(close: AmqpChannelClose): string | undefined {
  return /exchange '((?:[^'\\]|\\.)*)'/.exec(close.reason)?.[1];
}
