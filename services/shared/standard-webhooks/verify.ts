import type { KeyObject } from 'node:crypto';
import { matchesAnySignature } from '../crypto/timing-safe-equal.js';
import { standardWebhookDigest } from './sign.js';

/** The base64 signatures of a `webhook-signature` header (`v1,<base64> [v1,<base64> …]`); other versions are ignored. */
export function parseStandardWebhookSignatures(header: string): string[] {
  const signatures: string[] = [];
  for (const entry of header.split(' ')) {
    if (entry.startsWith('v1,')) signatures.push(entry.slice(3));
  }
  return signatures;
}

/**
 * Whether any of `signatures` is the signature of (`id`, `timestampSeconds`, `body`) under any of `keys`
 * (several during rotation). Compared in constant time. The timestamp's freshness is the caller's to check.
 */
export function verifyStandardWebhookSignature(
  keys: readonly KeyObject[],
  signatures: readonly string[],
  id: string,
  timestampSeconds: number,
  body: Buffer,
): boolean {
  return matchesAnySignature(keys, (key) => standardWebhookDigest(key, id, timestampSeconds, body), signatures, 'base64');
}
