import { describe, expect, it } from '@jest/globals';
import {
  getField,
  MAX_JSON_DEPTH,
  nestsDeeperThan,
  parseJsonPayload,
  readEventId,
  requireEventId,
  requireEventType,
  splitFieldPath,
} from '../../../services/ingress/verification/parse-json-payload.js';
import { WebhookPayloadError } from '../../../services/ingress/verification/verification-errors.js';

function payloadErrorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookPayloadError);
    return (error as WebhookPayloadError).code;
  }
  return undefined;
}

describe('parseJsonPayload', () => {
  it('parses an object from a Buffer or a string', () => {
    expect(parseJsonPayload(Buffer.from('{"id":"evt_1","n":[1,2]}'))).toEqual({ id: 'evt_1', n: [1, 2] });
    expect(parseJsonPayload('{"a":{"b":true}}')).toEqual({ a: { b: true } });
  });

  it('rejects malformed JSON with MALFORMED_JSON', () => {
    expect(payloadErrorCode(() => parseJsonPayload(Buffer.from('{"id":')))).toBe('MALFORMED_JSON');
    expect(payloadErrorCode(() => parseJsonPayload(Buffer.alloc(0)))).toBe('MALFORMED_JSON');
    expect(payloadErrorCode(() => parseJsonPayload(Buffer.from('{"a":"x\u0000y"}')))).toBe('MALFORMED_JSON'); // raw NUL
  });

  it('rejects arrays and scalars', () => {
    for (const text of ['[]', '[{"id":1}]', '"x"', '1', 'true', 'null']) {
      expect(payloadErrorCode(() => parseJsonPayload(Buffer.from(text)))).toBe('PAYLOAD_NOT_AN_OBJECT');
    }
  });

  it('refuses nesting deeper than PostgreSQL can store, with PAYLOAD_TOO_DEEP', () => {
    const nested = (depth: number, open = '{"a":', close = '}') => `{"id":"evt_deep",${'"x":'}${open.repeat(depth - 1)}1${close.repeat(depth - 1)}}`;
    expect(parseJsonPayload(nested(MAX_JSON_DEPTH))).toMatchObject({ id: 'evt_deep' });
    expect(payloadErrorCode(() => parseJsonPayload(Buffer.from(nested(MAX_JSON_DEPTH + 1))))).toBe('PAYLOAD_TOO_DEEP');
    expect(payloadErrorCode(() => parseJsonPayload(nested(20_000, '[', ']')))).toBe('PAYLOAD_TOO_DEEP');
    // Brackets inside strings (escaped quotes included) are not nesting.
    const inStrings = JSON.stringify({ id: 'evt_s', s: '{['.repeat(MAX_JSON_DEPTH + 10), t: '"\\{'.repeat(MAX_JSON_DEPTH) });
    expect(parseJsonPayload(inStrings)).toMatchObject({ id: 'evt_s' });
  });

  it('refuses numbers whose exponents jsonb would write out longer than the body allows, with NUMBERS_TOO_LONG', () => {
    const numbers = (count: number, number: string) => `{"id":"evt_n","pad":[${Array(count).fill(number).join(',')}]}`;
    // 9 bytes in the body, 131,072 characters each when PostgreSQL writes the stored payload back.
    expect(payloadErrorCode(() => parseJsonPayload(Buffer.from(numbers(9_000, '1e131071'))))).toBe('NUMBERS_TOO_LONG');
    expect(payloadErrorCode(() => parseJsonPayload(numbers(1, '1e131071')))).toBe('NUMBERS_TOO_LONG');
    expect(payloadErrorCode(() => parseJsonPayload(numbers(1_000, '1e-300')))).toBe('NUMBERS_TOO_LONG');
    // Within the allowance: a few large doubles in a small body, many small exponents in any body.
    expect(parseJsonPayload(numbers(200, '1.7976931348623157e308'))).toMatchObject({ id: 'evt_n' });
    expect(parseJsonPayload(numbers(100_000, '1.2345e-7'))).toMatchObject({ id: 'evt_n' });
    // In strings, exponents are text.
    expect(parseJsonPayload(`{"id":"evt_s","s":"${',1e131071'.repeat(1_000)}"}`)).toMatchObject({ id: 'evt_s' });
  });

  it('nestsDeeperThan counts open objects and arrays, not siblings', () => {
    expect(nestsDeeperThan('[[[]]]', 2)).toBe(true);
    expect(nestsDeeperThan('[[[]]]', 3)).toBe(false);
    expect(nestsDeeperThan(`[${'[],'.repeat(100)}[]]`, 2)).toBe(false);
    expect(nestsDeeperThan('{"a":"]]]]]]","b":[[[1]]]}', 4)).toBe(false);
    expect(nestsDeeperThan('{"a":"]]]]]]","b":[[[1]]]}', 3)).toBe(true);
    // A string ending in an escaped backslash ends at the next quote; an escaped quote does not end it.
    expect(nestsDeeperThan(String.raw`{"a":"x\\","b":[[1]]}`, 2)).toBe(true);
    expect(nestsDeeperThan(String.raw`{"a":"x\\","b":[[1]]}`, 3)).toBe(false);
    expect(nestsDeeperThan(String.raw`{"a":"\"[[[[","b":[1]}`, 2)).toBe(false);
    // Objects and arrays count together, at exactly the limit and one past it (the count of opening brackets settles
    // the first, the walk the second).
    expect(nestsDeeperThan('{"a":[{"b":[1]}]}', 4)).toBe(false);
    expect(nestsDeeperThan('{"a":[{"b":[1]}]}', 3)).toBe(true);
  });

  it('strips a UTF-8 BOM (Buffer and string)', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    expect(parseJsonPayload(Buffer.concat([bom, Buffer.from('{"a":1}')]))).toEqual({ a: 1 });
    expect(parseJsonPayload('\uFEFF{"a":1}')).toEqual({ a: 1 });
  });

  it('rejects UTF-16 and invalid UTF-8 with UNSUPPORTED_ENCODING', () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"a":1}', 'utf16le')]);
    expect(payloadErrorCode(() => parseJsonPayload(utf16))).toBe('UNSUPPORTED_ENCODING');
    const invalid = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    expect(payloadErrorCode(() => parseJsonPayload(invalid))).toBe('UNSUPPORTED_ENCODING');
  });

  it('replaces \\u0000 in keys and values with U+FFFD', () => {
    const parsed = parseJsonPayload(Buffer.from('{"a\\u0000b":"x\\u0000y","arr":["\\u0000",{"k\\u0000":"\\u0000\\u0000"}]}'));
    expect(parsed).toEqual({ 'a\uFFFDb': 'x\uFFFDy', arr: ['\uFFFD', { 'k\uFFFD': '\uFFFD\uFFFD' }] });
    expect(JSON.stringify(parsed)).not.toContain('\\u0000');
  });

  it('keeps key order when renaming keys and does not touch the prototype for "__proto__"', () => {
    const parsed = parseJsonPayload('{"first":1,"b\\u0000":2,"__proto__":"p\\u0000","last":3}');
    expect(Object.keys(parsed)).toEqual(['first', 'b\uFFFD', '__proto__', 'last']);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(parsed, '__proto__')?.value).toBe('p\uFFFD');
  });

  it('replaces lone surrogates but keeps valid pairs and other unicode', () => {
    const parsed = parseJsonPayload('{"lone":"a\\ud800b","low":"\\udc00","pair":"\\ud83d\\ude00","raw":"😀 é 中","k\\udfff":1}');
    expect(parsed).toEqual({ lone: 'a\uFFFDb', low: '\uFFFD', pair: '😀', raw: '😀 é 中', 'k\uFFFD': 1 });
  });

  it('sanitises odd unicode at the deepest nesting accepted', () => {
    const depth = MAX_JSON_DEPTH - 1;
    const text = `{"x":${'['.repeat(depth)}"\\u0000\\udbff"${']'.repeat(depth)}}`;
    const parsed = parseJsonPayload(text);
    let node: unknown = parsed['x'];
    for (let i = 0; i < depth; i++) node = (node as unknown[])[0];
    expect(node).toBe('\uFFFD\uFFFD');

    const objects = `${'{"a\\u0000":'.repeat(MAX_JSON_DEPTH)}"v\\u0000"${'}'.repeat(MAX_JSON_DEPTH)}`;
    let current: unknown = parseJsonPayload(objects);
    for (let i = 0; i < MAX_JSON_DEPTH; i++) current = (current as Record<string, unknown>)['a\uFFFD'];
    expect(current).toBe('v\uFFFD');
  });

  it('leaves a text with an escaped backslash before u0000 intact', () => {
    expect(parseJsonPayload('{"a":"\\\\u0000"}')).toEqual({ a: '\\u0000' });
  });
});

describe('id and type helpers', () => {
  it('accepts non-empty strings up to 255 chars and safe integers for ids', () => {
    expect(requireEventId('evt_1', 'x')).toBe('evt_1');
    expect(requireEventId(42, 'x')).toBe('42');
    expect(requireEventId('a'.repeat(255), 'x')).toHaveLength(255);
    expect(readEventId(2 ** 60)).toBeUndefined();
    for (const bad of ['', '   ', 'a'.repeat(256), null, undefined, {}, [], true, 1.5e300]) {
      expect(payloadErrorCode(() => requireEventId(bad, 'body field id'))).toBe('MISSING_EVENT_ID');
    }
  });

  it('refuses ids holding U+FFFD, what a NUL or a lone surrogate is replaced by, with UNSTORABLE_EVENT_ID', () => {
    for (const text of ['{"id":"evt_1\\u0000"}', '{"id":"evt_1\\ud800"}', '{"id":"evt_1\\udfff"}', '{"id":"evt_1\uFFFD"}']) {
      const payload = parseJsonPayload(Buffer.from(text));
      expect(payloadErrorCode(() => requireEventId(payload['id'], "body field 'id'"))).toBe('UNSTORABLE_EVENT_ID');
    }
    // Elsewhere in the body such characters are still replaced and stored.
    expect(requireEventId(parseJsonPayload('{"id":"evt_1","note":"a\\u0000"}')['id'], 'x')).toBe('evt_1');
  });

  it('accepts only strings for types', () => {
    expect(requireEventType('invoice.paid', 'x')).toBe('invoice.paid');
    for (const bad of ['', 1, null, undefined, 'x'.repeat(256)]) {
      expect(payloadErrorCode(() => requireEventType(bad, 'x'))).toBe('MISSING_EVENT_TYPE');
    }
  });

  it('reads dot paths through own properties and array indexes only', () => {
    const payload = { data: { object: { id: 'ch_1' } }, arr: [1], items: [{ id: 'evt_1' }], keyed: { '0': 'zero' } };
    expect(getField(payload, splitFieldPath('data.object.id'))).toBe('ch_1');
    expect(getField(payload, splitFieldPath('data.missing.id'))).toBeUndefined();
    expect(getField(payload, splitFieldPath('constructor'))).toBeUndefined();
    expect(getField(payload, splitFieldPath('arr.0'))).toBe(1);
    expect(getField(payload, splitFieldPath('items.0.id'))).toBe('evt_1');
    expect(getField(payload, splitFieldPath('keyed.0'))).toBe('zero');
    for (const step of ['1', '00', '-1', '0x0', 'length', 'map', 'constructor']) {
      expect(getField(payload, ['arr', step])).toBeUndefined();
    }
    expect(() => splitFieldPath('a..b')).toThrow();
  });
});
