/**
 * A transform's output had no size bound. JSONata's 1 s limit is checked between its steps, and one step can build a
 * huge value: `$pad("x", 300000000)` ran 7.5 s and held ~900 MB in one step, which the worker then wrote as JSON and
 * sent; with the chart's 512Mi limit the worker was OOM-killed on every retry of the event. Now a result over the
 * largest body (MAX_BODY_BYTES; `maxOutputBytes` here) is the event's failed transform, refused whole, and the steps
 * that build huge strings from small inputs ($pad, $join, $string) and sequences (JSONata's `sequence` option) stop
 * at the same bound before allocating. Normal transforms answer as before.
 */
import { describe, expect, it } from '@jest/globals';
import jsonata from 'jsonata';
import { compileRouteTransform, RouteTransformError } from '../../services/worker/routing/route-transform.js';

const bindings = { id: 'uuid-1', provider: 'stripe', eventType: 'invoice.paid', headers: {} };

async function outcomeOf(expression: string, payload: unknown = {}, maxOutputBytes?: number): Promise<string | Error> {
  return compileRouteTransform(expression, { maxOutputBytes })(payload, bindings).then(
    // (A body sent where none should be is named by its size: the test's report would not show megabytes.)
    (body) => (body.length > 10_000 ? `<${body.length} bytes sent>` : body.toString('utf8')),
    (error: Error) => error,
  );
}

const overBody = (limit: number) =>
  new RouteTransformError(`JSONata: the transform's result as JSON is over ${limit} bytes, the largest body a transform may send (MAX_BODY_BYTES); nothing is sent`);
const overString = (name: string, limit: number) =>
  new RouteTransformError(`JSONata: ${name} would build a string of over ${limit} characters, more than the largest body a transform may send (MAX_BODY_BYTES); nothing is built`);

describe('the result of a transform', () => {
  it('is refused whole (not cut short) when, as JSON in UTF-8, it is over the largest body; at the limit it is sent', async () => {
    // `{"t":"…"}` is 8 bytes around the text; é is 2 bytes in UTF-8 (1 character).
    expect(await outcomeOf('{ "t": t }', { t: 'é'.repeat(496) }, 1000)).toBe(`{"t":"${'é'.repeat(496)}"}`);
    expect(await outcomeOf('{ "t": t }', { t: `${'é'.repeat(496)}a` }, 1000)).toEqual(overBody(1000));
  });

  it('the README\'s examples', async () => {
    expect(await outcomeOf('$pad("x", 300000000)')).toEqual(overString('$pad', 1_048_576));
    expect(await outcomeOf('$count([1..2000000])')).toEqual(new RouteTransformError('JSONata D2015 at 11: The maximum sequence length of 2000000 was exceeded.'));
  });

  it('is refused before it is written out when it is far larger than memory holds (shared references, `&` ropes)', async () => {
    const tenTimes = (name: string) => `{ ${[...'abcdefghij'].map((key) => `"${key}": ${name}`).join(', ')} }`;
    const shared = `($a := $pad("", 900, "x"); $b := ${tenTimes('$a')}; $c := ${tenTimes('$b')}; ${tenTimes('$c')})`;
    expect(await outcomeOf(shared, {}, 10_000)).toEqual(overBody(10_000));
    expect(await outcomeOf('($s := t & t; $s := $s & $s; $s := $s & $s; $s & $s)', { t: 'x'.repeat(200) }, 1000)).toEqual(overBody(1000));
  });

  it('defaults to MAX_BODY_BYTES\'s default, 1 MiB', async () => {
    expect(await outcomeOf('{ "t": t }', { t: 'x'.repeat(1_048_576) })).toEqual(overBody(1_048_576));
  });
});

describe('single steps that build a huge value from a small input', () => {
  it('$pad refuses a width over the limit before building it, and pads as JSONata does below it', async () => {
    expect(await outcomeOf('$pad("x", 2000000)')).toEqual(overString('$pad', 1_048_576));
    expect(await outcomeOf('$pad("x", -5000, "ab")', {}, 1000)).toEqual(overString('$pad', 1000));
    // A long pad string no longer costs width × its length.
    expect(await outcomeOf('$length($pad("", 1000, $pad("", 1000, "y")))', {}, 1000)).toBe('1000');
    for (const expression of ['$pad("x", 5)', '$pad("x", -5, "ab")', '$pad("😀", 4, "é😀")', '$pad("abc", 2)', '$pad("a", 3.7, "-")', '$pad("a", -3.7, "-")', '$pad(t, 4, "")', '$pad(missing, 4)']) {
      const builtIn = await jsonata(expression).evaluate({ t: 'é' });
      expect([expression, await outcomeOf(`{ "r": ${expression} }`, { t: 'é' })]).toEqual([expression, JSON.stringify({ r: builtIn })]);
    }
  });

  it('$join refuses a result over the limit before joining, and joins as before below it', async () => {
    expect(await outcomeOf('$join([t, t, t], $pad("", 600, "-"))', { t: 'x' }, 1000)).toEqual(overString('$join', 1000));
    expect(await outcomeOf('$join(["a", "b", "c"], ", ")', {}, 1000)).toBe('"a, b, c"');
    expect(await outcomeOf('$join(["a", "b"])', {}, 1000)).toBe('"ab"');
  });

  it('$string refuses a structure that would write out over the limit, and writes as before below it', async () => {
    const shared = '($a := [1..100]; $b := [$a,$a,$a,$a,$a,$a,$a,$a,$a,$a]; $length($string([$b,$b,$b,$b,$b,$b,$b,$b,$b,$b])))';
    expect(await outcomeOf(shared, {}, 10_000)).toEqual(overString('$string', 10_000));
    expect(await outcomeOf('$string({ "a": 1.1, "b": [0.1 + 0.2, "x"] })', {}, 1000)).toBe(JSON.stringify(await jsonata('$string({ "a": 1.1, "b": [0.1 + 0.2, "x"] })').evaluate({})));
    expect(await outcomeOf('$string(n)', { n: 12 }, 1000)).toBe('"12"');
  });

  it('a range or sequence longer than the limit, in items, is JSONata\'s D2015', async () => {
    expect(await outcomeOf('$count([1..2000])', {}, 1000)).toEqual(new RouteTransformError('JSONata D2015 at 11: The maximum sequence length of 2000 was exceeded.'));
    expect(await outcomeOf('$count([1..1000])', {}, 1000)).toBe('1000');
  });
});
