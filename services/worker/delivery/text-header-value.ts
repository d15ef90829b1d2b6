/**
 * What a header value cannot carry as it is: a control character (undici refuses CR, LF and NUL, nats.js refuses a
 * line break), a character beyond ASCII (undici refuses one beyond U+00FF and sends the rest as Latin-1 bytes, which a
 * receiver reading UTF-8 takes for other characters), and blanks at either end (HTTP and nats.js trim them).
 */
const UNCARRIABLE = /[^\x20-\x7e]|^ | $/u;
/** A percent-escape: a value holding one as it is would read as encoded (see below), so it is encoded too. */
const ESCAPE = /%[0-9A-Fa-f]{2}/;
/** What is encoded in a value that needs it: `%` (so every `%` of an encoded value is an escape), what cannot be carried, and the blanks at either end. */
const ENCODED = /%|[^\x20-\x7e]|^ +| +$/gu;

/**
 * A header value for a string the provider chose (the event type: up to 255 characters, any), carried so that the
 * receiver can read it back exactly, over HTTP and NATS alike. Sent as it was, such a value failed every attempt of
 * the delivery as if the destination had (counted against its circuit, dead-lettered in the end), or arrived as
 * another string. It is percent-encoded (as UTF-8 bytes): `%`, control characters, characters beyond ASCII and the
 * blanks at either end, nothing else; so is a value that holds a `%XX` sequence as it is, so the rule is unambiguous
 * for receivers: a value with a `%XX` escape is encoded (`decodeURIComponent` gives the string), any other is the
 * string.
 */
export function textHeaderValue(value: string): string {
  if (!UNCARRIABLE.test(value) && !ESCAPE.test(value)) return value;
  return value.replace(ENCODED, (run) => [...run].map(percentEncoded).join(''));
}

function percentEncoded(character: string): string {
  return [...Buffer.from(character, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}
