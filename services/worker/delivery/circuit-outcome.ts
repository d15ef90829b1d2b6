import type { DeliveryResult } from './delivery-result.js';

/** What one attempted delivery tells a destination's circuit (see DestinationStateStore.record). */
export type CircuitOutcome = 'success' | 'failure' | 'release';

/** Results that count against a circuit: the destination's own failures (never the worker's, nor one payload's). */
const DESTINATION_FAILURES: ReadonlySet<DeliveryResult['result']> = new Set(['http_error', 'timeout', 'network_error']);

/**
 * HTTP answers that refuse what this request carries, not where or as whom it was sent: 400 Bad Request, 409 Conflict,
 * 413 Content Too Large, 415 Unsupported Media Type, 422 Unprocessable Content. The destination was up and read the
 * request. Not 401, 403, 404, 405, 410 and the like: the URL and the secret are the destination's, the same for every
 * event, so those say the destination is misconfigured or gone, and hold its events as a 5xx does; nor 408 and 429,
 * which say it is slow or overloaded.
 */
const REQUEST_REFUSALS: ReadonlySet<number> = new Set([400, 409, 413, 415, 422]);

/** A destination's refusal of this request's content (see {@link REQUEST_REFUSALS}). */
export function isRequestRefusal(result: DeliveryResult): boolean {
  return result.result === 'http_error' && result.statusCode !== null && REQUEST_REFUSALS.has(result.statusCode);
}

/**
 * A failed attempt the destination answered, refusing this message for what it carries: an HTTP request refusal (see
 * {@link REQUEST_REFUSALS}), or a broker's refusal of the event's own (see {@link DeliveryResult.brokerAnswered}).
 */
function isAnsweredRefusal(result: DeliveryResult): boolean {
  return isRequestRefusal(result) || result.brokerAnswered === true;
}

/**
 * How an attempt counts against the circuit: a success closes it, a destination's failure counts towards opening it
 * (and reopens it when it was the half-open probe), anything else (the worker's or the payload's failure, nothing
 * learnt of the destination) frees a probe without deciding.
 *
 * A probe the destination refused for its request (see {@link isRequestRefusal}) is the probe's success: the probe
 * asks whether the destination answers, and it did. Counted as a failure, it reopened the circuit without using the
 * event's attempt (a failed probe is the destination's, not the event's), so an event the destination always refuses
 * could be the probe after every cooldown and hold the destination for good. Outside a probe such an answer still
 * counts towards opening the circuit, as README documents: a destination refusing every event (a format it no longer
 * takes) opens it again after `failureThreshold` of them, once per cooldown.
 *
 * A broker's answer refusing the event's own message (returned for an event-filled routing key, no stream for an
 * event-filled subject, over a JetStream stream's size limit) is the probe's success in the same way: the broker is up. It is
 * an `internal_error`, so outside a probe it never counts. Freed instead, the circuit stayed half-open with nobody to
 * probe it: the events waiting behind it came back only at their own planned time (a cooldown and a spread of up to
 * 5 minutes). A refusal made before anything was sent (a transform, `maxMessageBytes`, NATS's `max_payload`, an
 * address the event type makes invalid), or by the broker before it looked at the destination (RabbitMQ's
 * `max_message_size`, checked before the exchange: its 406 comes even for an exchange that is gone), still frees the
 * probe: nothing was learnt of the destination, so the guard wakes the next waiting event to probe instead.
 */
export function circuitOutcome(result: DeliveryResult, isProbe: boolean): CircuitOutcome {
  if (result.succeeded) return 'success';
  if (isProbe && isAnsweredRefusal(result)) return 'success';
  return DESTINATION_FAILURES.has(result.result) ? 'failure' : 'release';
}
