import type jsonata from 'jsonata';
import { isJsonataFunction } from './jsonata-function-value.js';

/**
 * `$distinct` in time linear in its input, registered on each compiled transform in place of JSONata's own.
 *
 * JSONata's compares each item with every item kept before it (its deep equality), all in one step, which the time
 * limit (checked between steps) cannot stop: `{ "tags": $distinct(tags) }` over a payload of 150,000 distinct numbers
 * (0.9 MB, within MAX_BODY_BYTES) held the worker's event loop for 5 s per attempt, and the time grows with the square
 * of the payload (a few times MAX_BODY_BYTES: minutes, past the job's lock and the liveness probe). The payload alone
 * did that, under a transform that is not itself at fault.
 *
 * This one gives the same result: each item is first put in a bucket by a key that deep-equal items always share
 * ({@link bucketKey}), then compared, by JSONata's own deep equality ({@link isDeepEqual}), only with the items kept in
 * its bucket. Distinct items of a payload fall in buckets of their own, so each is compared with next to nothing.
 */
export function registerLinearDistinct(expression: jsonata.Expression): void {
  expression.registerFunction(
    'distinct',
    function (this: jsonata.Focus, items: unknown) {
      if (items === undefined) return undefined;
      if (!Array.isArray(items) || items.length <= 1) return items;
      // A sequence stays one (JSONata's sequence limit included), an array an array, as JSONata's $distinct does.
      // (JSONata's focus, the `this` of a function it calls, carries createSequence; its type declarations omit it.)
      const kept = isSequence(items) ? (this as jsonata.Focus & { createSequence: () => unknown[] }).createSequence() : [];
      const buckets = new Map<string, unknown[]>();
      const keys = new BucketKeys();
      for (const item of items) {
        const key = keys.of(item);
        let bucket = buckets.get(key);
        if (bucket === undefined) buckets.set(key, (bucket = []));
        if (bucket.some((other) => isDeepEqual(item, other))) continue;
        bucket.push(item);
        kept.push(item);
      }
      return kept;
    },
    '<x:x>',
  );
}

const isSequence = (value: unknown[]): boolean => (value as { sequence?: unknown }).sequence === true;

/**
 * Bucket keys: deep-equal values always get the same key (two values with different keys are never equal), so only
 * items of one bucket need comparing. A structure's key is made of its parts' keys, each interned as a short id, so a
 * key is as long as its value has parts (not as its content written out), and each object is keyed once however often
 * it is referenced. Function values share one bucket, where the comparison decides, as before.
 */
class BucketKeys {
  private readonly ids = new Map<string, number>();
  // Strings by their own id: a string met again (one referenced a million times) is found by its cached hash, never
  // copied into the keys of the structures holding it.
  private readonly stringIds = new Map<string, number>();
  private readonly ofObject = new WeakMap<object, string>();

  of(value: unknown): string {
    if (value === null) return 'null';
    switch (typeof value) {
      case 'string': {
        let id = this.stringIds.get(value);
        if (id === undefined) this.stringIds.set(value, (id = this.stringIds.size));
        return `s${id}`;
      }
      // `===` decides for a number: -0 and 0 are equal (String(-0) is "0"); NaN, equal to nothing, is compared anyway.
      case 'number':
        return `n${String(value)}`;
      case 'boolean':
        return `b${String(value)}`;
      case 'undefined':
        return 'u';
      case 'object':
        break;
      default:
        return 'other';
    }
    let key = this.ofObject.get(value);
    if (key === undefined) {
      key = this.structureKey(value);
      this.ofObject.set(value, key);
    }
    return key;
  }

  private intern(text: string): string {
    let id = this.ids.get(text);
    if (id === undefined) this.ids.set(text, (id = this.ids.size));
    return `#${id}`;
  }

  private structureKey(value: object): string {
    if (Array.isArray(value)) return this.intern(`[${value.map((item) => this.of(item)).join(',')}]`);
    // A function value's object holds its closure (JSONata's frames): not walked, as it is no data.
    if (isJsonataFunction(value)) return 'other';
    const record = value as Record<string, unknown>;
    // JSONata's equality compares an array and an object by their own property names (an array's are its indexes and
    // "length"), so an object with a whole-number "length" n and fields "0" … "n-1" may equal an array: it is keyed as
    // that array would be (its other fields left out: a coarser key only makes a bucket larger).
    const length = record.length;
    if (Object.prototype.hasOwnProperty.call(record, 'length') && typeof length === 'number' && Number.isInteger(length) && length >= 0) {
      let arrayLike = true;
      for (let index = 0; index < length && arrayLike; index++) arrayLike = Object.prototype.hasOwnProperty.call(record, String(index));
      if (arrayLike) return this.intern(`[${Array.from({ length }, (_, index) => this.of(record[String(index)])).join(',')}]`);
    }
    const names = Object.getOwnPropertyNames(record).sort();
    return this.intern(`{${names.map((name) => `${JSON.stringify(name)}:${this.of(record[name])}`).join(',')}}`);
  }
}

/**
 * JSONata's deep equality (jsonata 2.x, `isDeepEqual`), as its `$distinct` uses it: `===`, or two arrays of deep-equal
 * items in order, or two objects (an array among them compared as one) with the same own property names and
 * deep-equal values.
 */
export function isDeepEqual(lhs: unknown, rhs: unknown): boolean {
  if (lhs === rhs) return true;
  if (typeof lhs !== 'object' || typeof rhs !== 'object' || lhs === null || rhs === null) return false;
  if (Array.isArray(lhs) && Array.isArray(rhs)) {
    if (lhs.length !== rhs.length) return false;
    for (let index = 0; index < lhs.length; index++) if (!isDeepEqual(lhs[index], rhs[index])) return false;
    return true;
  }
  const lnames = Object.getOwnPropertyNames(lhs).sort();
  const rnames = Object.getOwnPropertyNames(rhs).sort();
  if (lnames.length !== rnames.length) return false;
  for (let index = 0; index < lnames.length; index++) if (lnames[index] !== rnames[index]) return false;
  for (const name of lnames) if (!isDeepEqual((lhs as Record<string, unknown>)[name], (rhs as Record<string, unknown>)[name])) return false;
  return true;
}
