import { isJsonataFunction } from './jsonata-function-value.js';

/**
 * Whether a value, written as JSON, would take more than `limitBytes` bytes of UTF-8, answered without writing it.
 *
 * A transform's result can be far larger than the memory it holds: a string built by `&` is a rope V8 flattens only
 * when it is written out, and one array referenced a thousand times (`[$a, $a, …]`) is held once but written a
 * thousand times. JSON.stringify of such a value is itself the allocation that exhausts the worker, so the size is
 * counted first, from below: a string's length in UTF-16 units (read without flattening) is at most its UTF-8 bytes,
 * and every other value, separator and bracket adds at least the bytes counted here. The walk stops as soon as the
 * count passes the limit; as every item it visits adds at least one byte, it visits at most `limitBytes` of them,
 * however often they are shared. It does not recurse, so a deeply nested value cannot overflow the stack here.
 */
export function jsonExceeds(value: unknown, limitBytes: number): boolean {
  let bytes = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string') bytes += next.length + 2;
    else if (typeof next === 'number' || typeof next === 'boolean' || typeof next === 'bigint') bytes += 1;
    else if (next === null) bytes += 4;
    else if (Array.isArray(next)) {
      // `[`, `]` and a comma between two items; an undefined item is written as `null`.
      bytes += 1 + Math.max(next.length, 1);
      for (const item of next) pending.push(item);
    } else if (typeof next === 'object' && !isJsonataFunction(next)) {
      // (A function is refused, not written: its closure is not walked, it may hold the evaluation's own frames.)
      bytes += 1;
      for (const [key, item] of Object.entries(next as Record<string, unknown>)) {
        // A key whose value JSON.stringify leaves out (undefined, a function) adds nothing.
        if (item === undefined || typeof item === 'function') continue;
        bytes += key.length + 4; // `"key":` and `,` (or, after the last, the `}`)
        pending.push(item);
      }
    }
    if (bytes > limitBytes) return true;
  }
  return false;
}
