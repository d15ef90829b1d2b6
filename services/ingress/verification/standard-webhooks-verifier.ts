import { createSecretKey } from 'node:crypto';
import { decodeStandardWebhookSecret } from '../../shared/standard-webhooks/decode-secret.js';
import { parseStandardWebhookSignatures, verifyStandardWebhookSignature } from '../../shared/standard-webhooks/verify.js';
import { parseJsonPayload, readEventType, requireEventId } from './parse-json-payload.js';
import { WebhookPayloadError, WebhookVerificationError } from './verification-errors.js';
import { getHeader, type VerifiedWebhook, type WebhookRequest, type WebhookVerifier } from './webhook-request.js';

export interface StandardWebhooksVerifierOptions {
  /** Provider name (URL segment). */
  provider: string;
  /** `whsec_<base64>` secrets (several during rotation); see {@link decodeStandardWebhookSecret}. */
  secrets: readonly string[];
  /** Largest accepted |now − webhook-timestamp| in seconds. */
  toleranceSeconds: number;
  /** Media types accepted (default ['application/json']); the body must be JSON in any case. */
  contentTypes?: readonly string[];
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

const TIMESTAMP = /^\d{1,15}$/;

/**
 * Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> [v1,<base64> …]`,
 * HMAC-SHA256 over `{id}.{timestamp}.{body}`. externalId = webhook-id (signed); eventType = body `type` (or
 * `event_type`).
 */
export function createStandardWebhooksVerifier(options: StandardWebhooksVerifierOptions): WebhookVerifier {
  const keys = options.secrets.map((secret) => createSecretKey(decodeStandardWebhookSecret(secret)));
  if (keys.length === 0) throw new Error(`Provider ${options.provider}: needs at least one secret`);
  const toleranceMs = options.toleranceSeconds * 1000;
  const now = options.now ?? Date.now;

  return {
    provider: options.provider,
    contentTypes: options.contentTypes ?? ['application/json'],
    async verify(request: WebhookRequest): Promise<VerifiedWebhook> {
      const signatureHeader = getHeader(request.headers, 'webhook-signature');
      if (signatureHeader === undefined) throw new WebhookVerificationError('MISSING_SIGNATURE');
      const id = getHeader(request.headers, 'webhook-id');
      const timestampHeader = getHeader(request.headers, 'webhook-timestamp');
      if (id === undefined || timestampHeader === undefined || !TIMESTAMP.test(timestampHeader)) {
        throw new WebhookVerificationError(
          'MALFORMED_SIGNATURE_HEADER',
          'Missing or malformed webhook-id / webhook-timestamp header',
        );
      }
      const timestamp = Number(timestampHeader);
      const signatures = parseStandardWebhookSignatures(signatureHeader);
      if (signatures.length === 0) {
        throw new WebhookVerificationError('MISSING_SIGNATURE', 'No v1 signature in the webhook-signature header');
      }
      if (!verifyStandardWebhookSignature(keys, signatures, id, timestamp, request.rawBody)) {
        throw new WebhookVerificationError('INVALID_SIGNATURE');
      }
      if (Math.abs(now() - timestamp * 1000) > toleranceMs) {
        throw new WebhookVerificationError('TIMESTAMP_OUT_OF_TOLERANCE');
      }

      const payload = parseJsonPayload(request.rawBody);
      const eventType = readEventType(payload['type']) ?? readEventType(payload['event_type']);
      if (eventType === undefined) {
        throw new WebhookPayloadError(
          'MISSING_EVENT_TYPE',
          "Webhook event type is missing or invalid (body field 'type' or 'event_type')",
        );
      }
      return { externalId: requireEventId(id, 'webhook-id header'), eventType, payload };
    },
  };
}
