// One definition of base64 for the whole service: the standard alphabet (RFC 4648 §4), never the URL-safe one.
const UNPADDED_OR_PADDED = /^[A-Za-z0-9+/]*={0,2}$/;
const PADDED = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/;

/** Standard-alphabet base64 characters, padding optional (lengths are the caller's to check). */
export function isBase64(value: string): boolean {
  return UNPADDED_OR_PADDED.test(value);
}

/**
 * Canonical padded base64 (a multiple of 4 characters, at most two '='), non-empty: the only form every reader
 * (Node's Buffer, the Standard Webhooks libraries, PayPal's) decodes to the same bytes.
 */
export function isPaddedBase64(value: string): boolean {
  return PADDED.test(value);
}
