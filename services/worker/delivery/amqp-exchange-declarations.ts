import type { Channel } from 'amqplib';
import type { Logger } from '../../shared/logging/logger.js';
import { AmqpPublishError } from './amqp-publish-error.js';

/**
 * How long a declaration RabbitMQ refused (an exchange of another type, no permission) is remembered: meanwhile the
 * destination's publishes fail with that refusal at once instead of declaring again on every attempt.
 */
export const REFUSED_DECLARATION_HOLD_MS = 30_000;

/** RabbitMQ's reply codes to a declaration: no permission (configure), no such exchange (passive check). */
const ACCESS_REFUSED = 403;
const NOT_FOUND = 404;

/** A declaration RabbitMQ refused, and until when it stands. */
interface Refusal {
  reason: string;
  at: number;
  until: number;
}

/**
 * The exchanges a connection has declared (a durable topic exchange each, declared when missing), and the
 * declarations RabbitMQ refused lately. Each declaration runs on a channel of its own, opened for it and closed
 * after: a refused declaration is a channel error, which closes its channel, and on a shared channel it failed every
 * other destination's declaration in flight ("Channel ended, no reply will be forthcoming"), as after each reconnect,
 * when every destination declares again at once.
 *
 * RabbitMQ checks exchange.declare against the user's configure permission even when the exchange exists as declared,
 * and a publisher's user commonly has write permission only (the exchange is the operator's). Such a refusal (403) is
 * followed by a passive check (which needs no permission): an exchange that exists is used as it is, its type not
 * verified; only a missing one is refused. The declaration comes first, not the check, so that a user who may
 * configure still learns of an exchange of another type (406) before publishing to it.
 */
export class AmqpExchangeDeclarations {
  /** Declared (or being declared) on the current connection. */
  private readonly declared = new Map<string, Promise<void>>();
  private readonly refused = new Map<string, Refusal>();

  constructor(
    /** A new channel on the current connection (waiting for one while it is being made). */
    private readonly openChannel: () => Promise<Channel>,
    private readonly logger: Logger,
    private readonly refusalHoldMs = REFUSED_DECLARATION_HOLD_MS,
  ) {}

  /**
   * Resolves once `exchange` is a durable topic exchange on the broker (declared once per connection); rejects with
   * an {@link AmqpPublishError} (`exchange`) when RabbitMQ refuses it, now or within the last
   * {@link REFUSED_DECLARATION_HOLD_MS}.
   */
  declare(exchange: string): Promise<void> {
    const refusal = this.refused.get(exchange);
    if (refusal && refusal.until > Date.now()) {
      const ago = Math.round((Date.now() - refusal.at) / 1000);
      const left = Math.ceil((refusal.until - Date.now()) / 1000);
      return Promise.reject(cannotUse(exchange, `${refusal.reason} (refused ${ago} s ago; declared again in ${left} s)`));
    }
    this.refused.delete(exchange);
    let declared = this.declared.get(exchange);
    if (!declared) {
      const declaring = this.declareOnItsOwnChannel(exchange).catch((error: Error & { code?: unknown }) => {
        if (this.declared.get(exchange) === declaring) this.declared.delete(exchange);
        // The broker's answer (a reply code: 406 another type, 403 no permission) is remembered; a connection that
        // dropped meanwhile is not a refusal: the next publish declares again.
        if (typeof error.code === 'number') {
          const at = Date.now();
          this.refused.set(exchange, { reason: error.message, at, until: at + this.refusalHoldMs });
          this.logger.warn('RabbitMQ refused an exchange declaration; publishes to it fail until it is declared again', {
            exchange,
            reason: error.message,
            retryInMs: this.refusalHoldMs,
          });
        }
        throw cannotUse(exchange, error.message);
      });
      declared = declaring;
      this.declared.set(exchange, declared);
    }
    return declared;
  }

  /** Forgets one exchange's declaration: it was deleted since (a publish to it was refused: 404). */
  forget(exchange: string): void {
    this.declared.delete(exchange);
  }

  /** Forgets every declaration and refusal: a new connection (the broker may have restarted, and changed). */
  forgetAll(): void {
    this.declared.clear();
    this.refused.clear();
  }

  private async declareOnItsOwnChannel(exchange: string): Promise<void> {
    try {
      await this.onItsOwnChannel((channel) => channel.assertExchange(exchange, 'topic', { durable: true }));
    } catch (error) {
      if ((error as { code?: unknown }).code !== ACCESS_REFUSED) throw error;
      // No configure permission: an exchange the operator declared may still be published to (write permission).
      try {
        await this.onItsOwnChannel((channel) => channel.checkExchange(exchange));
      } catch (checkError) {
        if ((checkError as { code?: unknown }).code !== NOT_FOUND) throw checkError;
        throw withCode(`it does not exist, and declaring it was refused: ${(error as Error).message}`, ACCESS_REFUSED);
      }
      this.logger.info('RabbitMQ refused to declare an exchange that exists (no configure permission); publishing to it as it is, its type not verified', {
        exchange,
        reason: (error as Error).message,
      });
    }
  }

  /** Runs one operation on a channel opened for it; a refusal closes that channel, not one another operation uses. */
  private async onItsOwnChannel(operation: (channel: Channel) => Promise<unknown>): Promise<void> {
    const channel = await this.openChannel();
    // A refused operation closes the channel with the broker's error; the operation's own promise reports it.
    channel.on('error', () => undefined);
    await operation(channel);
    // Not waited for: the operation is done, and the close costs the publish a round trip otherwise.
    channel.close().catch(() => undefined);
  }
}

/** An error carrying the broker's reply code, as amqplib's do (a refusal with one is remembered). */
function withCode(message: string, code: number): Error & { code: number } {
  return Object.assign(new Error(message), { code });
}

function cannotUse(exchange: string, reason: string): AmqpPublishError {
  return new AmqpPublishError('exchange', `exchange "${exchange}" cannot be used as a durable topic exchange: ${reason}`);
}
