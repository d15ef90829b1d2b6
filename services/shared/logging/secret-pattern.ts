/**
 * One precompiled regular expression that finds registered secret values in a serialized (JSON) log line, in every
 * form a client can make a value appear in one: as JSON writes it (escaped once, or twice when a JSON text is itself
 * logged as a string, e.g. a destination's error body), and percent-encoded the way URL encoders write it
 * (`encodeURIComponent`, lower-case hex, or a path-segment encoder that leaves `+` and `=` alone but encodes `/`).
 *
 * Each character outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`) may appear as JSON writes it (itself,
 * or escaped once or twice when JSON escapes it) or as its UTF-8 bytes percent-encoded with either hex case,
 * independently of its neighbours; unreserved characters are matched literally, so a typical base64 or hex secret
 * compiles to a literal with a few small alternations and the regex engine skips quickly through a line without one.
 * Everything else a client could do (percent-encoding unreserved characters, base64url, other escapes) is not
 * covered: value redaction is the safety net behind code that never logs secrets, not a decoder.
 */

const UNRESERVED = /^[A-Za-z0-9._~-]$/;
const escapeRegExp = (text: string) => text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/** The JSON string-literal form of `text`, without the quotes. */
const jsonEscaped = (text: string) => JSON.stringify(text).slice(1, -1);

/** `%2B` and `%2b` both: `%2[Bb]`. */
function percentPattern(character: string): string {
  let pattern = '';
  for (const byte of Buffer.from(character, 'utf8')) {
    const hex = byte.toString(16).toUpperCase().padStart(2, '0');
    pattern += '%';
    for (const digit of hex) pattern += /[A-F]/.test(digit) ? `[${digit}${digit.toLowerCase()}]` : digit;
  }
  return pattern;
}

function characterPattern(character: string): string {
  if (UNRESERVED.test(character)) return escapeRegExp(character);
  const once = jsonEscaped(character);
  // A character JSON escapes never appears raw inside a JSON string (a raw `"` ends the string, a raw `\` starts an
  // escape), and matching it would cut the line's JSON apart. Longest form first: `\\` is never half of `\\\\`.
  const textForms = once === character ? [character] : [jsonEscaped(once), once];
  const forms = new Set(textForms.map(escapeRegExp));
  forms.add(percentPattern(character));
  if (character === ' ') forms.add('\\+'); // form encoding
  return `(?:${[...forms].join('|')})`;
}

/** The pattern of one secret: its characters' patterns in a row. */
export function secretValuePattern(secret: string): string {
  let pattern = '';
  for (const character of secret) pattern += characterPattern(character); // by code point
  return pattern;
}

/**
 * A global regex matching any of `secrets` in any of the forms above, longest secret first (so a secret that
 * contains another is replaced whole), or null when there is nothing to match.
 */
export function compileSecretPattern(secrets: Iterable<string>): RegExp | null {
  const sorted = [...new Set(secrets)].filter((secret) => secret !== '').sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
  if (sorted.length === 0) return null;
  return new RegExp(sorted.map(secretValuePattern).join('|'), 'g');
}
