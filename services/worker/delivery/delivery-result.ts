import type { DELIVERY_RESULTS } from '../../shared/metrics/metrics.js';
import { parseHttpDate } from './http-date.js';

/**
 * How one delivery attempt to one destination ended. `result` is the `webhook_delivery_attempts_total` label; the same
 * labels serve every destination type:
 * - `success`: a 2xx answer (http), the broker's publisher confirm (amqp), the stream's ack (nats, a `duplicate` ack
 *   included: the stream holds this round's message already, stored by an earlier attempt whose ack was lost);
 * - `http_error`: a non-2xx answer (http), a status of 600–999 included (RFC 9110 15: an invalid status is a 5xx);
 * - `timeout`: no answer, confirm or ack within the destination's `timeoutMs`;
 * - `network_error`: the destination or broker could not be reached or did not take the message: connection refused
 *   or lost, an answer undici refuses as not HTTP (a status below 100, of four digits or not a number, an unasked
 *   101), for brokers also a nack, a fixed routing key no queue is bound for, an exchange of another type, RabbitMQ
 *   blocking publishing or closing the channel over the message, no stream capturing a fixed subject, a stream refusing
 *   the message or an answer that is not a stream's ack (`error` says which);
 * - `handler_error`: an in-process handler threw;
 * - `internal_error`: the worker itself could not deliver: a bug, a destination it cannot sign for, a route transform
 *   failing on this event's payload, an event type that makes an invalid routing key or subject (or a NATS subject
 *   NATS reserves), a routing key or subject filled in from the event that no queue is bound for or no stream captures
 *   (other types to the destination may be), a message over the destination's `maxMessageBytes` or one the broker refuses for its size (NATS's
 *   `max_payload`, a stream's `max_msg_size`, RabbitMQ's `max_message_size`): the event's, not the destination's, so
 *   not counted against its circuit.
 * Every one but `success` is a failed attempt like any other. `statusCode` is the HTTP status (null for brokers).
 */
export interface DeliveryResult {
  destination: string;
  succeeded: boolean;
  result: 'success' | 'http_error' | 'timeout' | 'network_error' | 'handler_error' | 'internal_error';
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  /**
   * A 429 or 503 answer's `Retry-After`, in ms from the answer (at most {@link MAX_RETRY_AFTER_MS}): the event's next
   * attempt is not made before it. The failed attempt counts like any other.
   */
  retryAfterMs?: number;
  /**
   * Set on an `internal_error` the broker sent back for this message once it had looked at the destination
   * (RabbitMQ returning it for an event-filled routing key from the destination's exchange; NATS's no responders for
   * an event-filled subject, or a stream's `max_msg_size`): the event's failure, but the broker answered, so it is
   * up, as a destination's HTTP 4xx says. Unset when nothing reached the broker (a limit or address checked before
   * sending, a transform), and when the broker refused the message before it looked at the destination (RabbitMQ
   * closing the channel over its size: it checks `max_message_size` before the exchange exists).
   */
  brokerAnswered?: true;
}

// Service metrics create every result's series at 0 from DELIVERY_RESULTS: a result added here without being listed
// there fails tsc. The check is the worker's (it owns the results); shared metrics import no role.
type Unlisted = Exclude<DeliveryResult['result'], (typeof DELIVERY_RESULTS)[number]>;
const everyResultListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyResultListed;

/** The longest `Retry-After` honoured (1 h): a destination cannot park an event for longer per attempt. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * `Retry-After` (delay-seconds, or an HTTP-date) as ms from `now`, capped at {@link MAX_RETRY_AFTER_MS}; undefined
 * when absent or unreadable. A date in the past is 0.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    // An HTTP-date in any of its three forms, GMT; a bare "-5" or "1.5" is none of them.
    let at = parseHttpDate(text, now);
    if (at === undefined) {
      // Near enough to read (`Wed, 21 Oct 2015 07:28:00 +0000`): what Date.parse makes of it, as before.
      if (!/^[A-Za-z]{3},? /.test(text)) return undefined;
      at = Date.parse(text);
      if (Number.isNaN(at)) return undefined;
    }
    ms = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}
