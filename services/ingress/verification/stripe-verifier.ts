import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { parseJsonPayload, requireEventId, requireEventType } from './parse-json-payload.js';
import { matchesAnySignature } from '../../shared/crypto/timing-safe-equal.js';
import { WebhookVerificationError } from './verification-errors.js';
import { getHeader, type VerifiedWebhook, type WebhookRequest, type WebhookVerifier } from './webhook-request.js';

export interface StripeVerifierOptions {
  /** Endpoint secrets (`whsec_...`), several during rotation. Used as-is (UTF-8) as HMAC keys, like Stripe's libraries. */
  secrets: readonly string[];
  /** Largest accepted |now − t| in seconds. */
  toleranceSeconds: number;
  /** Provider name (default 'stripe'). */
  provider?: string;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

const SIGNATURE_HEADER = 'stripe-signature';
const SCHEME = 'v1';
const TIMESTAMP = /^\d{1,15}$/;

interface ParsedStripeHeader {
  timestamp: number;
  /** The `v1` values as sent (one that cannot be a digest never matches). */
  signatures: string[];
}

/**
 * Parses `t=…,v1=…[,v1=…][,v0=…]`. Unknown schemes are ignored. Throws MALFORMED_SIGNATURE_HEADER without a valid `t`, MISSING_SIGNATURE
 * without any v1.
 */
export function parseStripeSignatureHeader(header: string): ParsedStripeHeader {
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't') {
      if (!TIMESTAMP.test(value)) throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER');
      timestamp = Number(value);
    } else if (key === SCHEME) {
      signatures.push(value);
    }
  }
  if (timestamp === undefined) throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER');
  if (signatures.length === 0) {
    throw new WebhookVerificationError('MISSING_SIGNATURE', 'No v1 signature in the Stripe-Signature header');
  }
  return { timestamp, signatures };
}

/** Stripe: `Stripe-Signature: t=<unix>,v1=<hex hmac-sha256 of "{t}.{rawBody}">`; id/type from the body. */
export function createStripeVerifier(options: StripeVerifierOptions): WebhookVerifier {
  const keys: KeyObject[] = options.secrets.map((secret) => {
    if (secret === '') throw new Error('Stripe webhook secret must not be empty');
    return createSecretKey(Buffer.from(secret, 'utf8'));
  });
  if (keys.length === 0) throw new Error('Stripe verifier needs at least one secret');
  const toleranceMs = options.toleranceSeconds * 1000;
  const now = options.now ?? Date.now;

  return {
    provider: options.provider ?? 'stripe',
    contentTypes: ['application/json'],
    async verify(request: WebhookRequest): Promise<VerifiedWebhook> {
      const header = getHeader(request.headers, SIGNATURE_HEADER);
      if (header === undefined) throw new WebhookVerificationError('MISSING_SIGNATURE');
      const { timestamp, signatures } = parseStripeSignatureHeader(header);

      // Stripe's libraries sign `${Number(t)}.${payload}`; the body bytes are hashed as received.
      const prefix = `${timestamp}.`;
      const digestOf = (key: KeyObject) => createHmac('sha256', key).update(prefix).update(request.rawBody).digest();
      if (!matchesAnySignature(keys, digestOf, signatures, 'hex')) throw new WebhookVerificationError('INVALID_SIGNATURE');

      // Checked after the signature (as Stripe does): only an authentic but stale/future event reports this code.
      if (Math.abs(now() - timestamp * 1000) > toleranceMs) {
        throw new WebhookVerificationError('TIMESTAMP_OUT_OF_TOLERANCE');
      }

      const payload = parseJsonPayload(request.rawBody);
      return {
        externalId: requireEventId(payload['id'], "body field 'id'"),
        eventType: requireEventType(payload['type'], "body field 'type'"),
        payload,
      };
    },
  };
}
