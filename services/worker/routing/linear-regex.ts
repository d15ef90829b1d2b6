import { RE2JS } from 're2js';

/**
 * A regular expression compiled for RE2 (re2js, RE2 ported to JavaScript): it matches in time linear in the input,
 * however the expression is written. Route filters and transforms are operator-written, but the strings they run
 * over are the providers' payloads: on JavaScript's backtracking engine a nested quantifier (`/^(a+)+$/`) over a
 * hostile string runs for longer than the universe has left, inside one synchronous call that no timeout can stop,
 * and the worker's event loop with it. RE2 has no backtracking, so it has no backreferences, lookahead or
 * lookbehind; an expression using them is refused when it is compiled, never silently read differently.
 */
export type LinearRegex = RE2JS;

/** The flags a route's regular expression may take, as RegExp spells them. */
const FLAG_BITS: Readonly<Record<string, number>> = { i: RE2JS.CASE_INSENSITIVE, m: RE2JS.MULTILINE, s: RE2JS.DOTALL };

/** Why RE2 may refuse an expression JavaScript accepts, for the one-line error. */
const WHAT_RE2_LACKS = 'no backreferences, lookahead or lookbehind; a repeat count is at most 1000';

/**
 * Compiles `source`, written in JavaScript's RegExp syntax, with `flags` (any of `i`, `m`, `s`) for RE2. Throws an
 * Error with a one-line message when JavaScript would not compile it either (`Invalid regular expression: /([a-z/:
 * Unterminated character class`), when a flag is not one of those, or when RE2 cannot run it (a backreference, a
 * lookaround), naming the expression and RE2's reason.
 */
export function compileLinearRegex(source: string, flags = ''): LinearRegex {
  let bits = 0;
  for (const flag of flags) {
    const bit = FLAG_BITS[flag];
    if (bit === undefined) throw new Error(`regular expression /${source}/${flags}: flag "${flag}" is not supported (i, m and s are)`);
    bits |= bit;
  }
  // JavaScript's own verdict first, so an expression that is simply malformed is told as RegExp would tell it.
  // Compiling a RegExp does not run it: this is safe whatever the expression.
  new RegExp(source, flags);
  try {
    return RE2JS.compile(toRe2Syntax(source), bits);
  } catch (error) {
    const reason = (error as Error).message.replace(/^error parsing regexp: /, '');
    throw new Error(`regular expression /${source}/${flags} cannot run on RE2, the linear-time engine (${WHAT_RE2_LACKS}): ${reason}`);
  }
}

/**
 * JavaScript's escapes that RE2 spells differently: `\uXXXX` (a surrogate pair written as two of them is one
 * character) and `\u{X…}` become `\x{…}`. Escaped backslashes are matched first, so `\\u0041` stays a backslash and
 * the letters `u0041`. Everything else (`\d`, `\w`, `\b`, `(?<name>…)`, classes, `\p{…}`) RE2 reads as JavaScript
 * does; what it cannot read, it refuses.
 */
function toRe2Syntax(source: string): string {
  return source.replace(/\\\\|\\u([0-9a-fA-F]{4})(?:\\u([0-9a-fA-F]{4}))?|\\u\{([0-9a-fA-F]+)\}/g, (escape, unit?: string, next?: string, codePoint?: string) => {
    if (codePoint !== undefined) return `\\x{${codePoint}}`;
    if (unit === undefined) return escape;
    const high = parseInt(unit, 16);
    const low = next === undefined ? undefined : parseInt(next, 16);
    if (low !== undefined && high >= 0xd800 && high <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
      return `\\x{${(((high - 0xd800) << 10) + (low - 0xdc00) + 0x10000).toString(16)}}`;
    }
    return `\\x{${unit}}${next === undefined ? '' : `\\x{${next}}`}`;
  });
}
