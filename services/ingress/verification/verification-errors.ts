/**
 * Typed errors thrown by webhook verifiers.
 *
 * - {@link WebhookVerificationError}: the request is not proven to come from the provider → HTTP 401.
 * - {@link WebhookPayloadError}: the request is authentic but its content is unusable → HTTP 400.
 * - {@link FailureBudgetSpentError}: not verified, because that would cost work (a certificate download) on behalf
 *   of a client that has spent its failed-verification budget → HTTP 429, not counted as a failure.
 *
 * `message` is always safe to return to a client: it never contains secrets, expected signatures,
 * request data or stack traces. Diagnostic detail for logs goes into `cause` (which must never be
 * serialised into a response).
 */

export type WebhookVerificationErrorCode =
  | 'MISSING_SIGNATURE'
  | 'INVALID_SIGNATURE'
  | 'TIMESTAMP_OUT_OF_TOLERANCE'
  | 'MALFORMED_SIGNATURE_HEADER'
  | 'CERTIFICATE_REJECTED'
  | 'REPLAYED_TRANSMISSION';

export type WebhookPayloadErrorCode =
  | 'MALFORMED_JSON'
  | 'PAYLOAD_NOT_AN_OBJECT'
  | 'PAYLOAD_TOO_DEEP'
  | 'NUMBERS_TOO_LONG'
  | 'MISSING_EVENT_ID'
  | 'UNSTORABLE_EVENT_ID'
  | 'MISSING_EVENT_TYPE'
  | 'UNSUPPORTED_ENCODING'
  | 'UNSUPPORTED_CONTENT_TYPE'
  | 'MISSING_FORM_PAYLOAD';

const VERIFICATION_MESSAGES: Readonly<Record<WebhookVerificationErrorCode, string>> = {
  MISSING_SIGNATURE: 'Missing webhook signature',
  INVALID_SIGNATURE: 'Invalid webhook signature',
  TIMESTAMP_OUT_OF_TOLERANCE: 'Webhook timestamp is outside the allowed tolerance',
  MALFORMED_SIGNATURE_HEADER: 'Malformed webhook signature header',
  CERTIFICATE_REJECTED: 'Webhook signing certificate rejected',
  REPLAYED_TRANSMISSION: 'Webhook signature was already used for another event',
};

const PAYLOAD_MESSAGES: Readonly<Record<WebhookPayloadErrorCode, string>> = {
  MALFORMED_JSON: 'Webhook payload is not valid JSON',
  PAYLOAD_NOT_AN_OBJECT: 'Webhook payload must be a JSON object',
  PAYLOAD_TOO_DEEP: 'Webhook payload nests objects and arrays too deeply',
  NUMBERS_TOO_LONG: 'Webhook payload has numbers whose exponents write out to too many digits',
  MISSING_EVENT_ID: 'Webhook event id is missing or invalid',
  UNSTORABLE_EVENT_ID: 'Webhook event id must not hold a NUL, a lone surrogate or U+FFFD, what those are stored as',
  MISSING_EVENT_TYPE: 'Webhook event type is missing or invalid',
  UNSUPPORTED_ENCODING: 'Webhook payload must be UTF-8 encoded',
  UNSUPPORTED_CONTENT_TYPE: 'Unsupported content type for this provider',
  MISSING_FORM_PAYLOAD: "Form-encoded webhook has no 'payload' field",
};

/** Authentication failed (→ 401). */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  readonly code: WebhookVerificationErrorCode;
  readonly statusCode = 401 as const;

  /**
   * @param message optional client-safe message; defaults to a generic text for the code.
   *   Must never contain secrets, computed signatures or raw request data.
   */
  constructor(code: WebhookVerificationErrorCode, message?: string, options?: ErrorOptions) {
    super(message ?? VERIFICATION_MESSAGES[code], options);
    this.code = code;
  }
}

/** The authentic request carries an unusable payload (→ 400). */
export class WebhookPayloadError extends Error {
  override readonly name = 'WebhookPayloadError';
  readonly code: WebhookPayloadErrorCode;
  readonly statusCode = 400 as const;

  /** @param message optional client-safe message; defaults to a generic text for the code. */
  constructor(code: WebhookPayloadErrorCode, message?: string, options?: ErrorOptions) {
    super(message ?? PAYLOAD_MESSAGES[code], options);
    this.code = code;
  }
}

/**
 * Verifying the request would need a download (PayPal's certificate, not cached), and its client has already spent
 * its budget of failed verifications: the download is not made (→ 429 with Retry-After, like the client's other
 * requests until its window ends). Not a verdict on the request, so not counted as a failure. A request whose
 * certificate is at hand is still verified, so a correctly signed one from the same address goes through.
 */
export class FailureBudgetSpentError extends Error {
  override readonly name = 'FailureBudgetSpentError';
  readonly statusCode = 429 as const;

  constructor(options?: ErrorOptions) {
    super('Too many requests that failed verification; slow down', options);
  }
}
