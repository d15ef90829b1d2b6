/**
 * Integers beyond 2^53 in a payload reach a transform as the nearest double (JSON.parse), so a transform copying one
 * would send another number than the provider sent (12345678901234567891 as 12345678901234567000). Such a result is
 * the event's failed transform, naming where in the result the number is; transforms over payloads without such
 * integers, or not carrying them, are unaffected. (End to end: test/security/hostile-big-integer-transform.test.ts.)
 */
import { describe, expect, it } from '@jest/globals';
import { compileRouteTransform, RouteTransformError } from '../../services/worker/routing/route-transform.js';
import { findUnsafeInteger, payloadHoldsRoundedIntegers } from '../../services/worker/routing/unsafe-integers.js';

const bindings = { id: 'uuid-1', provider: 'stripe', eventType: 'charge.succeeded', headers: {} };
const text = '{"type":"charge.succeeded","data":{"object":{"account":12345678901234567891,"amount":1500}}}';
const payload = JSON.parse(text) as unknown;

async function outcomeOf(expression: string, holdsRoundedIntegers: boolean): Promise<unknown> {
  return compileRouteTransform(expression)(payload, bindings, { holdsRoundedIntegers }).then(
    (body) => body.toString('utf8'),
    (error: unknown) => error,
  );
}

describe('payloadHoldsRoundedIntegers', () => {
  it('finds numbers beyond 2^53 either side of zero, and nothing at 2^53 - 1 or in strings of digits', () => {
    const holds = (json: string) => payloadHoldsRoundedIntegers(json);
    expect(holds(text)).toBe(true);
    expect(holds('{"a":[1,{"b":-9007199254740993}]}')).toBe(true);
    expect(holds('{"a":9007199254740991,"b":-9007199254740991}')).toBe(false);
    expect(holds('{"id":"12345678901234567891","n":3}')).toBe(false);
    expect(holds('{"n":0.12345678901234567}')).toBe(false);
    // As jsonb writes text (a space after ':' and ','), and numbers a double holds exactly, however long.
    expect(holds('{"a": 1, "b": [2, 12345678901234567891]}')).toBe(true);
    expect(holds('{"ts_ns": 1764619200123000000, "mass": 602000000000000000000000}')).toBe(false);
    // -2^64 is a double exactly, but JavaScript writes it back as -18446744073709552000: another decimal than sent.
    expect(holds('{"x": -18446744073709551616}')).toBe(true);
    expect(holds('{"f": 12345678901234567.5}')).toBe(true);
  });

  it('walks a payload nested deeper than the call stack reaches', () => {
    const depth = 200_000;
    const json = `${'['.repeat(depth)}12345678901234567891${']'.repeat(depth)}`;
    expect(payloadHoldsRoundedIntegers(json)).toBe(true);
  });
});

describe('findUnsafeInteger', () => {
  it('names the path of the first one, in document order, as JSONata writes it', () => {
    expect(findUnsafeInteger(12345678901234567891)).toBe('$');
    expect(findUnsafeInteger({ items: [{ id: 1 }, { id: 2 ** 60 }], z: 2 ** 61 })).toBe('$.items[1].id');
    expect(findUnsafeInteger({ 'odd key': [2 ** 60] })).toBe('$.`odd key`[0]');
    expect(findUnsafeInteger({ a: [1, 'x', null, { b: 9007199254740991 }] })).toBeUndefined();
  });
});

describe('a transform over a payload holding an integer beyond 2^53', () => {
  it('copying it is a RouteTransformError naming the path, not the number sent rounded', async () => {
    const outcome = await outcomeOf('{ "account": data.object.account, "amount": data.object.amount }', true);
    expect(outcome).toBeInstanceOf(RouteTransformError);
    const message = (outcome as Error).message;
    expect(message).toContain('integer beyond 2^53 at $.account');
    expect(message).toContain('as strings');
  });

  it('computing from it is refused as well (the sum of a rounded number is no better)', async () => {
    expect(await outcomeOf('{ "next": data.object.account + 1 }', true)).toBeInstanceOf(RouteTransformError);
  });

  it('a transform that does not carry it is sent as before', async () => {
    expect(await outcomeOf('{ "amount": data.object.amount, "type": type }', true)).toBe('{"amount":1500,"type":"charge.succeeded"}');
  });

  it('a payload without such integers is not checked: a large number the transform computes is sent', async () => {
    expect(await outcomeOf('{ "big": data.object.amount * 10000000000000000 }', false)).toBe('{"big":15000000000000000000}');
  });
});
