import { closingQuoteOf } from './json-string-end.js';

/**
 * PostgreSQL's jsonb keeps a number as an exact `numeric` and writes it back (every read of the payload as text: the
 * worker's filters and transforms, the admin API) in full decimal, never in exponent notation: `1e300` is stored in a
 * few bytes but reads back as 301 characters, `1e-300` as 302, `1e131071` as 131,072. A body of such numbers is thus
 * a small request that every later read multiplies: 9,000 × `1e131071` (90 KB) read back as 1.2 GB, past PostgreSQL's
 * 1 GB string limit, so the event could no longer be read at all. The exponent is the whole amplification (digits
 * written plainly read back as written), so what a body grows by is counted from its exponent-notation numbers only.
 */

/**
 * A number in exponent notation where a value can start (a body is an object, so after `:`, `,` or `[`): the cheap
 * first look, one regular-expression pass that ordinary bodies do not match (their digit-`e`-digit runs are inside
 * ids and hashes, where no `:`/`,`/`[` and digits precede them). A match may still be inside a string; the walk
 * below decides.
 */
const MAYBE_EXPONENT_NUMBER = /[:,[]\s*-?[0-9]+(?:\.[0-9]+)?[eE]/;

/** One JSON number token, read at a given index (sticky): sign, integer digits, fraction digits, exponent. */
const NUMBER_TOKEN = /(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?/y;

/**
 * How many characters at most jsonb writes for the number `sign digits.fraction × 10^exponent`: its digits, with the
 * exponent's zeros after them, or before them after `0.` (as `numeric` keeps the scale: `1.50e1` is `15.0`).
 */
function writtenOutLength(sign: string, digits: string, fraction: string, exponent: string): number {
  const significant = digits.length + fraction.length;
  const scale = Number(exponent) - fraction.length; // the last digit's power of ten; ±Infinity for a huge exponent
  const unsigned = scale >= 0 ? significant + scale : Math.max(significant, -scale + 1) + 1;
  return sign.length + unsigned;
}

/**
 * How many characters longer than `text` (valid JSON) PostgreSQL's jsonb writes it back, at most, because of its numbers
 * in exponent notation: 0 for a body without any (one regular-expression test), Infinity for an exponent too large
 * to count. A walk over the text that skips strings, for the bodies the first look matches.
 */
export function exponentNumberGrowth(text: string): number {
  if (!MAYBE_EXPONENT_NUMBER.test(text)) return 0;
  let growth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = closingQuoteOf(text, i);
      if (end === -1) break;
      i = end;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER_TOKEN.lastIndex = i;
      const token = NUMBER_TOKEN.exec(text);
      if (token === null) continue;
      const [written, sign, digits, fraction, exponent] = token as unknown as [string, string, string, string?, string?];
      if (exponent !== undefined) {
        growth += Math.max(0, writtenOutLength(sign, digits, fraction ?? '', exponent) - written.length);
      }
      i += written.length - 1;
    }
  }
  return growth;
}
