import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { decodeStandardWebhookSecret } from './decode-secret.js';

/** HMAC-SHA256 over `{id}.{timestamp}.{body}`, the Standard Webhooks signed content. */
export function standardWebhookDigest(key: KeyObject, id: string, timestampSeconds: number, body: Buffer): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestampSeconds}.`).update(body).digest();
}

/** A signer with the key decoded once: `(id, timestampSeconds, body) => 'v1,<base64>'`. Throws on a bad secret. */
export function createStandardWebhookSigner(secret: string): (id: string, timestampSeconds: number, body: Buffer) => string {
  const key = createSecretKey(decodeStandardWebhookSecret(secret));
  return (id, timestampSeconds, body) => {
    if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
      throw new RangeError('timestampSeconds must be a non-negative integer');
    }
    return `v1,${standardWebhookDigest(key, id, timestampSeconds, body).toString('base64')}`;
  };
}

/** The `webhook-signature` value (`v1,<base64>`) for one message. */
export function signStandardWebhook(secret: string, id: string, timestampSeconds: number, body: Buffer): string {
  return createStandardWebhookSigner(secret)(id, timestampSeconds, body);
}
