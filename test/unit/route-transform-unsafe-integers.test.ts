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

/**
 * A transform that writes such a number as text sends a string with the rounded digits (`$string(id)` of the
 * provider's 1234567890123456789 is "1234567890123456800"), which holds no number any more for the check above: an
 * id silently changed. Every step that writes a number as text ($string, also of an object or array holding one, `&`,
 * $formatNumber, $formatBase, $formatInteger, and each of these through $eval, $map or `~>`) fails the event's
 * transform instead, when the payload holds rounded integers; the message names the step, never the value.
 */
describe('a transform writing an integer beyond 2^53 as text', () => {
  const rounded = '{"id": 1234567890123456789}';
  const safe = '{"id": 42}';
  const roundedElsewhere = '{"id": 42, "account": 12345678901234567891}';

  async function sendOrError(payloadText: string, expression: string): Promise<unknown> {
    const holdsRoundedIntegers = payloadHoldsRoundedIntegers(payloadText);
    return compileRouteTransform(expression)(JSON.parse(payloadText), bindings, { holdsRoundedIntegers }).then(
      (body) => body.toString('utf8'),
      (error: unknown) => error,
    );
  }

  it.each([
    ['$string(id)', '$string'],
    ['"x" & id', '&'],
    ['id & ""', '&'],
    ['$string({"id": id})', '$string'],
    ['$string({"a": [1, {"b": id}]}, true)', '$string'],
    ['[id] ~> $string', '$string'],
    ['$map([id], $string)', '$string'],
    ['$join(["order", $string(id)], "-")', '$string'],
    ['"ids: " & [1, id]', '&'],
    ['$formatNumber(id, "#")', '$formatNumber'],
    ['$formatBase(id, 16)', '$formatBase'],
    ['$formatInteger(id, "w")', '$formatInteger'],
    ['id ~> $formatBase(16)', '$formatBase'],
    ['$map([id], $formatNumber(?, "#,##0"))', '$formatNumber'],
    ['$eval("\\"x\\" & id")', '&'],
    ['$eval("$string(id)")', '$string'],
  ])('%s over a payload holding one fails, naming %s and not the number', async (expression, step) => {
    const outcome = await sendOrError(rounded, expression);
    expect(outcome).toBeInstanceOf(RouteTransformError);
    const message = (outcome as Error).message;
    // (The README quotes this message.)
    expect(message).toContain(`JSONata: ${step} would write an integer beyond 2^53 as text, and the payload holds integers that large`);
    expect(message).toContain('nothing is sent (such ids must be sent as strings, or forwarded without a transform)');
    expect(message).not.toMatch(/123456|1\.2345|e\+?18/);
  });

  it.each([
    ['$string(id)', '"42"'],
    ['"x" & id', '"x42"'],
    ['$string({"id": id})', '"{\\"id\\":42}"'],
    ['$formatBase(id, 16)', '"2a"'],
    ['$map([id], $string)', '"42"'],
    ['$map([id], $formatInteger(?, "w"))', '"forty-two"'],
    ['id ~> $formatBase(16)', '"2a"'],
    ['$map([id, 1000], $formatNumber(?, "#,##0"))', '["42","1,000"]'],
    ['$formatInteger(id, "w")', '"forty-two"'],
    ['$eval("\\"x\\" & id")', '"x42"'],
    ['$eval("($n := id + 1; $string($n))", {"id": 7})', '"8"'],
  ])('%s over a payload without one is sent as before', async (expression, sent) => {
    expect(await sendOrError(safe, expression)).toBe(sent);
  });

  it('writing only safe numbers as text is sent though the payload holds a rounded integer elsewhere', async () => {
    expect(await sendOrError(roundedElsewhere, '{ "ref": "order-" & id, "n": $string(id), "obj": $string({"id": id}), "hex": $formatBase(id, 16) }')).toBe(
      '{"ref":"order-42","n":"42","obj":"{\\"id\\":42}","hex":"2a"}',
    );
    // A function inside what `&` or $string writes is written as "": its closure (which holds the payload) is not read.
    expect(await sendOrError(roundedElsewhere, '$string({"f": function($v) { $v }, "id": id}) & $uppercase')).toBe('"{\\"f\\":\\"\\",\\"id\\":42}"');
  });

  it('a payload without rounded integers is not checked: a large number the transform computes is written as text', async () => {
    expect(await sendOrError(safe, '$string(id * 100000000000000000)')).toBe('"4200000000000000000"');
    expect(await sendOrError(safe, '"t" & ($millis() * 1000000)')).toMatch(/^"t\d{19}"$/);
  });

  it("the README's examples", async () => {
    for (const [expression, step] of [['$string(data.object.account)', '$string'], ['"acct-" & data.object.account', '&']] as const) {
      const outcome = await outcomeOf(expression, true);
      expect(outcome).toBeInstanceOf(RouteTransformError);
      expect((outcome as Error).message).toMatch(
        new RegExp(`^JSONata: ${step.replace('$', '\\$')} would write an integer beyond 2\\^53 as text, and the payload holds integers that large, .*; nothing is sent \\(such ids must be sent as strings, or forwarded without a transform\\)$`),
      );
    }
    expect(await sendOrError(safe, '$string($millis() * 1000000)')).toMatch(/^"\d{19}"$/);
  });

  it('is decided per evaluation: evaluations of one transform over both kinds of payload, started together', async () => {
    const transform = compileRouteTransform('"order-" & id');
    const run = (payloadText: string) =>
      transform(JSON.parse(payloadText), bindings, { holdsRoundedIntegers: payloadHoldsRoundedIntegers(payloadText) }).then(
        (body) => body.toString('utf8'),
        (error: Error) => `refused: ${error.message}`,
      );
    const [first, second, third] = await Promise.all([run(rounded), run('{"id": 4200000000000000000}'), run(rounded)]);
    expect(first).toMatch(/^refused: JSONata: & would write/);
    expect(second).toBe('"order-4200000000000000000"');
    expect(third).toMatch(/^refused: JSONata: & would write/);
  });
});
