import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { parseJsonPayload, readEventType, requireEventId } from './parse-json-payload.js';
import { signatureMatches } from './timing-safe-equal.js';
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

const SECRET_PREFIX = 'whsec_';
const TIMESTAMP = /^\d{1,15}$/;
const BASE64_BODY = /^[A-Za-z0-9+/]+$/;

function isBase64(value: string): boolean {
  const body = value.replace(/={1,2}$/, '');
  if (body === '' || !BASE64_BODY.test(body) || body.length % 4 === 1) return false;
  return body.length === value.length || value.length % 4 === 0;
}

/**
 * The HMAC key for a Standard Webhooks secret, as the `standardwebhooks` library derives it: the base64 part
 * after `whsec_` (which must be valid base64). A secret without the prefix is base64-decoded when it is valid
 * base64, else used as UTF-8 bytes. Throws (without echoing the secret) on an empty or invalid secret.
 */
export function decodeStandardWebhookSecret(secret: string): Buffer {
  let key: Buffer;
  if (secret.startsWith(SECRET_PREFIX)) {
    const encoded = secret.slice(SECRET_PREFIX.length);
    if (!isBase64(encoded)) throw new Error("Invalid Standard Webhooks secret: the part after 'whsec_' must be base64");
    key = Buffer.from(encoded, 'base64');
  } else {
    key = isBase64(secret) ? Buffer.from(secret, 'base64') : Buffer.from(secret, 'utf8');
  }
  if (key.length === 0) throw new Error('Standard Webhooks secret must not be empty');
  return key;
}

function signWithKey(key: KeyObject, id: string, timestampSeconds: number, body: Buffer): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestampSeconds}.`).update(body).digest();
}

/** Returns a signer with the key decoded once: `(id, timestampSeconds, body) => 'v1,<base64>'`. */
export function createStandardWebhookSigner(secret: string): (id: string, timestampSeconds: number, body: Buffer) => string {
  const key = createSecretKey(decodeStandardWebhookSecret(secret));
  return (id, timestampSeconds, body) => {
    if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
      throw new RangeError('timestampSeconds must be a non-negative integer');
    }
    return `v1,${signWithKey(key, id, timestampSeconds, body).toString('base64')}`;
  };
}

/** The `webhook-signature` value (`v1,<base64>`) for a message, per the Standard Webhooks spec. */
export function signStandardWebhook(secret: string, id: string, timestampSeconds: number, body: Buffer): string {
  return createStandardWebhookSigner(secret)(id, timestampSeconds, body);
}

/**
 * Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> [v1,<base64> …]`,
 * HMAC-SHA256 over `{id}.{timestamp}.{body}`. externalId = webhook-id; eventType = body `type` (or `event_type`).
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

      const signatures: string[] = [];
      for (const entry of signatureHeader.split(' ')) {
        if (entry.startsWith('v1,')) signatures.push(entry.slice(3));
      }
      if (signatures.length === 0) {
        throw new WebhookVerificationError('MISSING_SIGNATURE', 'No v1 signature in the webhook-signature header');
      }

      let matched = false;
      for (const key of keys) {
        const digest = signWithKey(key, id, timestamp, request.rawBody);
        for (const signature of signatures) {
          if (signatureMatches(signature, digest, 'base64')) matched = true;
        }
        if (matched) break;
      }
      if (!matched) throw new WebhookVerificationError('INVALID_SIGNATURE');

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
