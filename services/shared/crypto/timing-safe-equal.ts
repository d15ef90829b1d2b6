import { timingSafeEqual as cryptoTimingSafeEqual, type KeyObject } from 'node:crypto';
import { isBase64 } from './base64.js';

const HEX = /^[0-9a-fA-F]*$/;

/**
 * Constant-time equality of two strings (UTF-8) or byte sequences. `expected` should be the secret-derived
 * value (e.g. a computed HMAC). When the lengths differ, the function still performs a full comparison of
 * `expected` against itself before returning false, so the only information revealed is the length of the
 * attacker-supplied value, which the attacker already knows.
 */
export function timingSafeEqual(actual: Buffer | string, expected: Buffer | string): boolean {
  const a = typeof actual === 'string' ? Buffer.from(actual, 'utf8') : actual;
  const b = typeof expected === 'string' ? Buffer.from(expected, 'utf8') : expected;
  if (a.length !== b.length) {
    cryptoTimingSafeEqual(b, b);
    return false;
  }
  return cryptoTimingSafeEqual(a, b);
}

/**
 * Strictly decodes a hex or base64 signature that must decode to exactly `byteLength` bytes (a digest).
 * Returns undefined for anything else, so malformed or truncated input can never match. Hex is
 * case-insensitive; base64 is the standard alphabet, padding optional.
 */
export function decodeSignature(value: string, encoding: 'hex' | 'base64', byteLength: number): Buffer | undefined {
  if (encoding === 'hex') {
    if (value.length !== byteLength * 2 || !HEX.test(value)) return undefined;
    return Buffer.from(value, 'hex');
  }
  const padded = Math.ceil(byteLength / 3) * 4;
  const unpadded = Math.ceil((byteLength * 4) / 3);
  if ((value.length !== padded && value.length !== unpadded) || !isBase64(value)) return undefined;
  const decoded = Buffer.from(value, 'base64');
  return decoded.length === byteLength ? decoded : undefined;
}

/** Constant-time comparison of an encoded, attacker-supplied signature with a computed digest. */
export function signatureMatches(provided: string, digest: Buffer, encoding: 'hex' | 'base64'): boolean {
  const decoded = decodeSignature(provided, encoding, digest.length);
  if (decoded === undefined) {
    cryptoTimingSafeEqual(digest, digest);
    return false;
  }
  return cryptoTimingSafeEqual(decoded, digest);
}

/**
 * Whether any provided signature is the digest of the signed content under any key: several keys while a secret is
 * rotated, several signatures per header (Stripe's and Standard Webhooks' `v1` lists). Every comparison is
 * constant-time, malformed signatures included ({@link signatureMatches}).
 */
export function matchesAnySignature(
  keys: readonly KeyObject[],
  digestOf: (key: KeyObject) => Buffer,
  provided: readonly string[],
  encoding: 'hex' | 'base64',
): boolean {
  for (const key of keys) {
    const digest = digestOf(key);
    let matched = false;
    for (const signature of provided) if (signatureMatches(signature, digest, encoding)) matched = true;
    if (matched) return true;
  }
  return false;
}
