import { timingSafeEqual as cryptoTimingSafeEqual } from 'node:crypto';

const HEX = /^[0-9a-fA-F]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

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
  if ((value.length !== padded && value.length !== unpadded) || !BASE64.test(value)) return undefined;
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
