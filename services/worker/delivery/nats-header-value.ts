/** What nats.js cannot carry in a header value: it refuses a line break, and trims blanks off both ends (sending and reading). */
const UNCARRIABLE = /[\r\n]|^\s|\s$/u;
/** A percent-escape: a value holding one as it is would read as encoded (see below), so it is encoded too. */
const ESCAPE = /%[0-9A-Fa-f]{2}/;
/** What is encoded in a value that needs it: `%` (so every `%` of an encoded value is an escape), line breaks, and the blanks at either end. */
const ENCODED = /%|[\r\n]|^\s+|\s+$/gu;

/**
 * A NATS header value for a string the provider chose (the event type), carried so that the consumer can read it back
 * exactly. NATS headers cannot hold a line break (nats.js throws while building them, which failed every attempt as if
 * the destination had, and counted against its circuit) and nats.js trims blanks at both ends (a consumer would read
 * another event type than the one stored). Such a value is percent-encoded: `%`, CR, LF and the blanks at either end
 * (as UTF-8 bytes), nothing else; so is a value that holds a `%XX` sequence as it is, so the rule is unambiguous for
 * consumers: a value with a `%XX` escape is encoded (`decodeURIComponent` gives the string), any other is the string.
 */
export function natsHeaderValue(value: string): string {
  if (!UNCARRIABLE.test(value) && !ESCAPE.test(value)) return value;
  return value.replace(ENCODED, (run) => [...run].map(percentEncoded).join(''));
}

function percentEncoded(character: string): string {
  return [...Buffer.from(character, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}
