/**
 * Integers beyond 2^53 (Number.MAX_SAFE_INTEGER, 9,007,199,254,740,991): jsonb keeps them exactly, but JavaScript
 * reads every JSON number as a double, so a payload's `12345678901234567891` reaches filters and transforms as
 * 12345678901234567000 (the nearest double) and `9007199254740993` as 9007199254740992. A transform that copies
 * such a value would send another number than the provider sent, so the worker refuses to (see
 * {@link findUnsafeInteger}, used by route-transform.ts).
 */

/**
 * The shortest run of digits any integer beyond 2^53 has in the payload's text: PostgreSQL writes jsonb numbers in
 * plain decimal (`1e19` is written out as twenty digits), so a payload text without such a run holds none.
 */
const UNSAFE_INTEGER_DIGITS = /\d{16}/;

/** A number the JSON parse may have rounded: finite, beyond 2^53 (every double out there is an integer). */
function isUnsafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) > Number.MAX_SAFE_INTEGER;
}

/**
 * Whether a payload, parsed from its jsonb text, holds an integer beyond 2^53. Cheap for the usual payload: the
 * text is scanned for a run of 16 digits (which strings holding long digit runs also have), and only then is the
 * parsed payload walked.
 */
export function payloadHoldsUnsafeIntegers(text: string, payload: unknown): boolean {
  return UNSAFE_INTEGER_DIGITS.test(text) && findUnsafeInteger(payload) !== undefined;
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
 * a payload may nest deeper than the call stack reaches. For values JSON.stringify accepts (no cycles).
 */
export function findUnsafeInteger(value: unknown): string | undefined {
  const pending: WalkStep[] = [{ value }];
  for (let step = pending.pop(); step !== undefined; step = pending.pop()) {
    const item = step.value;
    if (isUnsafeInteger(item)) return pathOf(step);
    if (typeof item !== 'object' || item === null) continue;
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
