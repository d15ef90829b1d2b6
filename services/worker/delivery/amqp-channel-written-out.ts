import type { Channel } from 'amqplib';

/** The longest wait for a closed channel's frames to be written out (a connection that stopped moving is not waited for). */
const MAX_WAIT_MS = 5000;

/**
 * Resolves once what a channel the broker closed had still to send has been written to the socket. amqplib frees the
 * channel's number as soon as the broker closed it, while the channel's own write buffer may still hold frames: the
 * rest of a large message the broker refused (406 over `max_message_size` is said after its header), then the
 * close-ok. A channel opened meanwhile gets that number, and amqplib's multiplexer can send its channel.open ahead of
 * the old channel's close-ok: RabbitMQ then closes the whole connection (504 "second 'channel.open' seen", amqplib
 * issue #441), failing every publish on it. Reads amqplib's internals (`connection.channels[n].buffer`); without
 * them, or after {@link MAX_WAIT_MS}, it resolves at once.
 */
export function writtenOut(channel: Channel): Promise<void> {
  const internals = channel as unknown as { ch?: number; connection?: { channels?: ({ buffer?: NodeJS.ReadableStream & { readableEnded?: boolean } } | null)[] } };
  const buffer = internals.ch === undefined ? undefined : internals.connection?.channels?.[internals.ch]?.buffer;
  if (!buffer || buffer.readableEnded) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      buffer.off('end', done);
      buffer.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, MAX_WAIT_MS);
    timer.unref();
    buffer.on('end', done);
    buffer.on('close', done);
  });
}
