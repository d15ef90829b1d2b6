/**
 * How one delivery attempt to one destination ended. `result` is the `webhook_delivery_attempts_total` label; the same
 * labels serve every destination type:
 * - `success`: a 2xx answer (http), the broker's publisher confirm (amqp), the stream's ack (nats, a `duplicate` ack
 *   included: the stream holds the message already);
 * - `http_error`: a non-2xx answer (http);
 * - `timeout`: no answer, confirm or ack within the destination's `timeoutMs`;
 * - `network_error`: the destination or broker could not be reached or did not take the message: connection refused
 *   or lost, for brokers also a nack, an unroutable routing key, an exchange of another type, no stream capturing the
 *   subject, a stream refusing the message (`error` says which);
 * - `handler_error`: an in-process handler threw;
 * - `internal_error`: the worker itself could not deliver: a bug, a destination it cannot sign for, a route transform
 *   failing on this event's payload, an event type that makes an invalid routing key or subject.
 * Every one but `success` is a failed attempt like any other. `statusCode` is the HTTP status (null for brokers).
 */
export interface DeliveryResult {
  destination: string;
  succeeded: boolean;
  result: 'success' | 'http_error' | 'timeout' | 'network_error' | 'handler_error' | 'internal_error';
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}
