import type { ReplayKey } from './replay-key.js';

export interface WebhookRequest {
  /** The body exactly as received. */
  rawBody: Buffer;
  /** Lower-cased header names, as node's IncomingMessage.headers. */
  headers: Record<string, string | string[] | undefined>;
  /** Media type without parameters, lower-cased, e.g. 'application/json'. */
  contentType: string;
  /**
   * Who sent it, for verifiers whose verification costs work a forger could ask for at will (PayPal's certificate
   * download). Absent when the caller does not know (then no per-client limit applies).
   */
  client?: WebhookClient;
}

/** The sender of a request, as the failed-verification budget knows it. */
export interface WebhookClient {
  /** Its key in the failed-verification budget (its address, IPv6 grouped by /56). */
  readonly key: string;
  /** Whether it has spent its budget of failed verifications in the current window (a read: counts nothing). */
  hasSpentFailureBudget(): boolean;
}

export interface VerifiedWebhook {
  externalId: string;
  eventType: string;
  payload: unknown;
  /**
   * Set by providers whose signature does not cover `externalId`, or carries no timestamp: what it does cover, stored
   * unique per provider with the event (in the same statement) and kept after the event's retention (its tombstone),
   * so a replay, under a new unsigned id or long after, is never a new event.
   */
  replayKey?: ReplayKey;
}

export interface WebhookVerifier {
  /** Provider name as in the URL /webhooks/{provider}. */
  readonly provider: string;
  /**
   * Media types this provider may send (the ingress answers 415 to others), e.g. ['application/json']
   * or for github also 'application/x-www-form-urlencoded'.
   */
  readonly contentTypes: readonly string[];
  /**
   * Headers (lower-case) this provider's events are identified by, kept with the event besides the usual ones: an
   * `hmac` provider's `idHeader` / `typeHeader` (for operators, and for route filters on `headers`).
   */
  readonly keptHeaders?: readonly string[];
  /**
   * Verifies the signature over rawBody FIRST, then parses and extracts id/type.
   * Throws WebhookVerificationError or WebhookPayloadError.
   */
  verify(request: WebhookRequest): Promise<VerifiedWebhook>;
}

/**
 * One header value. `name` must be lower-case. A header that node delivered as an array (repeated header
 * it does not join) is ambiguous for signature purposes: only a single-element array is accepted.
 * Returns undefined when absent or empty.
 */
export function getHeader(headers: WebhookRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (Array.isArray(value) && value.length === 1) {
    const first = value[0];
    return first === undefined || first === '' ? undefined : first;
  }
  return undefined;
}
