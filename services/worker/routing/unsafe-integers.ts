import { isJsonataFunction } from './jsonata-function-value.js';

/**
 * Integers beyond 2^53 (Number.MAX_SAFE_INTEGER, 9,007,199,254,740,991): jsonb keeps them exactly, but JavaScript
 * reads every JSON number as a double, so a payload's `12345678901234567891` reaches filters and transforms as
 * 12345678901234567000 (the nearest double) and `9007199254740993` as 9007199254740992. A transform that copies
 * such a value would send another number than the provider sent, so the worker refuses to when the payload holds
 * one ({@link payloadHoldsRoundedIntegers}) and the result an integer beyond 2^53 ({@link findUnsafeInteger}, used by
 * route-transform.ts), and to let a step write one as text (rounded-integer-text.ts).
 */

/**
 * A number token of JSON text, as found between its strings (where every run of digits is part of one: names and
 * other strings are quoted, `true`, `false` and `null` hold none). jsonb never writes one in exponent notation (`1e19`
 * is written out as twenty digits); JSON text from elsewhere may. Its integer digits are the first group.
 */
const NUMBER = /-?(\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/** Integer digits a number needs to be beyond 2^53: shorter numbers are all below it and read exactly. */
const LONG_INTEGER_DIGITS = 16;

/** A number the JSON parse may have rounded: finite, beyond 2^53 (every double out there is an integer). */
function isUnsafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) > Number.MAX_SAFE_INTEGER;
}

/**
 * Whether the payload, as jsonb's text, holds a number that JSON.parse reads as another value: one whose nearest
 * double does not write back to the same decimal value (`12345678901234567891` reads as 12345678901234567000).
 * Numbers a double holds exactly are not: a JavaScript sender's `1764619200123000000` (Date.now() * 1e6), or
 * `6.02e23` (which jsonb writes as 24 digits and a transform sends as 6.02e+23, the same value), are sent as received.
 */
export function payloadHoldsRoundedIntegers(text: string): boolean {
  // Strings are stepped over: a string's text can hold what reads as a number in JSON ("ref: 12345678901234567891,"),
  // which a search of the whole text took for one of the payload's.
  for (let position = 0; position < text.length; ) {
    const quote = text.indexOf('"', position);
    const end = quote === -1 ? text.length : quote;
    for (const [token, integer] of text.slice(position, end).matchAll(NUMBER)) {
      if (integer!.length >= LONG_INTEGER_DIGITS && plainDecimal(token) !== plainDecimal(String(Number(token)))) return true;
    }
    if (quote === -1) break;
    position = afterString(text, quote);
  }
  return false;
}

/** Where the JSON string opening at `quote` ends (after its closing quote: one not escaped by a backslash). */
function afterString(text: string, quote: number): number {
  for (let close = text.indexOf('"', quote + 1); close !== -1; close = text.indexOf('"', close + 1)) {
    let backslashes = 0;
    while (text[close - 1 - backslashes] === '\\') backslashes++;
    if (backslashes % 2 === 0) return close + 1;
  }
  return text.length;
}

/**
 * A decimal number's value as plain digits (no exponent, no leading zeros, no trailing fraction zeros), so two
 * writings of one value compare equal: `6.02e+23` and `602000000000000000000000`.
 */
function plainDecimal(text: string): string {
  const [, sign, whole, fraction = '', exponent = '0'] = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i.exec(text) ?? [];
  if (whole === undefined) return text;
  let digits = whole + fraction;
  let point = whole.length + Number(exponent);
  if (point <= 0) {
    digits = '0'.repeat(1 - point) + digits;
    point = 1;
  }
  if (point > digits.length) digits += '0'.repeat(point - digits.length);
  const integer = digits.slice(0, point).replace(/^0+(?=\d)/, '');
  const decimals = digits.slice(point).replace(/0+$/, '');
  return `${sign}${integer}${decimals ? `.${decimals}` : ''}`;
}

/** A path segment as JSONata writes it: a plain name as is, any other in backquotes, an index in brackets. */
function pathSegment(key: string | number): string {
  if (typeof key === 'number') return `[${key}]`;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `.\`${key.replace(/`/g, '``')}\``;
}

/** One value met on the walk, and how it was reached (its path is built only for the one found). */
interface WalkStep {
  value: unknown;
  key?: string | number;
  parent?: WalkStep;
}

/**
 * The path (`$.account`, `$.items[0].id`, `$` for the value itself) of the first integer beyond 2^53 in a JSON value,
 * in document order, undefined when it holds none. Walked without recursion and without building a path per value:
 * a payload may nest deeper than the call stack reaches. For values JSON.stringify accepts (no cycles), and JSONata's
 * values, whose functions are passed over as JSONata writes them.
 */
export function findUnsafeInteger(value: unknown): string | undefined {
  const pending: WalkStep[] = [{ value }];
  for (let step = pending.pop(); step !== undefined; step = pending.pop()) {
    const item = step.value;
    if (isUnsafeInteger(item)) return pathOf(step);
    // A JSONata function is written as "" by $string and `&` (and refused in a result): its closure is not walked.
    if (typeof item !== 'object' || item === null || isJsonataFunction(item)) continue;
    const children: [string | number, unknown][] = Array.isArray(item) ? item.map((child, index) => [index, child]) : Object.entries(item);
    for (let index = children.length - 1; index >= 0; index--) {
      const [key, child] = children[index]!;
      if (isUnsafeInteger(child) || (typeof child === 'object' && child !== null)) pending.push({ value: child, key, parent: step });
    }
  }
  return undefined;
}

function pathOf(step: WalkStep): string {
  const segments: string[] = [];
  for (let at: WalkStep | undefined = step; at?.key !== undefined; at = at.parent) segments.push(pathSegment(at.key));
  return `$${segments.reverse().join('')}`;
}
