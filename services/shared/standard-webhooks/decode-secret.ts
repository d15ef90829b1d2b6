import { isPaddedBase64 } from '../crypto/base64.js';

const PREFIX = 'whsec_';

/** Why a Standard Webhooks secret was refused (never echoes the secret). */
export const STANDARD_WEBHOOK_SECRET_RULE = "must be base64 (padded, optionally after 'whsec_'), as the Standard Webhooks libraries read it";

/**
 * The HMAC key of a Standard Webhooks secret, read as the reference `standardwebhooks` library reads it: an
 * optional `whsec_` prefix, then base64. Anything else (plain text, URL-safe or unpadded base64) throws, so a
 * secret is never used one way here and another way by the sender or receiver.
 */
export function decodeStandardWebhookSecret(secret: string): Buffer {
  const encoded = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  // Padded base64 only: the reference `standardwebhooks` library silently drops a trailing character of some
  // unpadded strings, and Node decodes leniently; a secret two readers could decode differently is refused.
  if (!isPaddedBase64(encoded)) throw new Error(`Invalid Standard Webhooks secret: ${STANDARD_WEBHOOK_SECRET_RULE}`);
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) throw new Error('Standard Webhooks secret must not be empty');
  return key;
}
