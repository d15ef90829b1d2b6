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
import { LinearRegexEngine } from '../../services/worker/routing/jsonata-regex-engine.js';

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
    // (A string doubled by `&` is now refused earlier still, by the `&` that takes it past the limit: see below.)
    expect(await outcomeOf('($s := t & t; $s := $s & $s; $s := $s & $s; $s & $s)', { t: 'x'.repeat(200) }, 1000)).toEqual(overString('&', 1000));
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

describe('$replace, whose result is its input times the replacement\'s length', () => {
  // Over a 1 MiB field these built 524 million characters in 0.5 s, or exhausted 4 GB in one step ($0 repeated).
  it('refuses a result over the limit, counted before building (string pattern) or as it builds (regex, function)', async () => {
    const payload = { t: 'x'.repeat(1000) };
    for (const expression of [
      '$replace(t, "x", "yy")',
      '$replace(t, "x", $pad("", 500, "y"))',
      '$replace(t, /x/, "$0$0")',
      '$replace(t, /x/, $pad("", 500, "$0"))',
      '$replace($substring(t, 0, 5), /x/, $pad("", 500, "$0"))',
      '$replace(t, /x/, function($m) { $m.match & $m.match })',
      '$replace($substring(t, 0, 3), /x/, function($m) { t })',
    ]) {
      expect([expression, await outcomeOf(expression, payload, 1000)]).toEqual([expression, overString('$replace', 1000)]);
    }
  });

  it('answers as JSONata\'s own $replace below the limit: patterns, $n references, functions, limits, errors', async () => {
    const payload = { t: 'The quick brown fox, the lazy dog: 12 + 34 = 46. Ça coûte 5 €; 😀😀 $1.', n: 3 };
    const expressions = [
      '$replace(t, "the", "a")', '$replace(t, "o", "00", 2)', '$replace(t, "o", "0", 0)', '$replace(t, "zz", "y")',
      '$replace(t, "o", "$0")', '$replace(t, "😀", "é")', '$replace(t, "", "x")', '$replace(t, "o", "0", -1)',
      '$replace(t, /(\\d+) \\+ (\\d+)/, "$2 + $1")', '$replace(t, /[aeiou]/i, "[$0]")', '$replace(t, /o/, "$$")',
      '$replace(t, /(o)/, "$1$1$2$10")', '$replace(t, /(q)(u)(i)(c)(k)( )(b)(r)(o)(w)(n)/, "$11$10$1$12")',
      '$replace(t, /o/, "$x$")', '$replace(t, /(a)|(e)/, "<$1|$2>")', '$replace(t, /\\w+/, "w", n)', '$replace(t, /\\w+/, "w", 0)',
      '$replace(t, /x*?/, "y")', '$replace(t, /o/, "0", -1)', '$replace(t, /[😀€]/, "#")',
      '$replace(t, /\\d+/, function($m) { $string($number($m.match) * 2) })',
      '$replace(t, /(\\w)(\\w*)/, function($m) { $uppercase($m.groups[0]) & $m.groups[1] }, 4)',
      '$replace(t, /o/, function($m) { $m.start })', '$replace(t, /o/, $uppercase)', '$replace(missing, "a", "b")',
      '$replace(t, "o", function($m) { "0" })',
    ];
    for (const expression of expressions) {
      // (Its regex literals run on the worker's engine, RE2, on both sides: it matches code points, not UTF-16 units.)
      const builtIn = await jsonata(expression, { RegexEngine: LinearRegexEngine as unknown as RegExpConstructor }).evaluate(payload).then((value) => JSON.stringify({ r: value }), (error: { code: string; message: string }) => `${error.code}: ${error.message}`);
      const bounded = await outcomeOf(`{ "r": ${expression} }`, payload, 10_000);
      expect([expression, bounded instanceof Error ? bounded.message.replace(/^JSONata (\w+)( at \d+)?: /, '$1: ') : bounded]).toEqual([expression, builtIn]);
    }
  });
});

describe('every step\'s string', () => {
  it('`&` refuses a string over the limit as it is joined, so a doubled rope is never flattened', async () => {
    const doubled = `($s := t; ${'$s := $s & $s; '.repeat(9)}$contains($s, "q"))`;
    expect(await outcomeOf(doubled, { t: 'x'.repeat(100) }, 10_000)).toEqual(overString('&', 10_000));
    expect(await outcomeOf('t & t', { t: 'x'.repeat(600) }, 1000)).toEqual(overString('&', 1000));
    expect(await outcomeOf('$length(t & t)', { t: 'x'.repeat(500) }, 1000)).toBe('1000');
  });

  it('`&` measures a structure before writing it as JSON', async () => {
    const shared = '($a := [1..100]; $b := [$a,$a,$a,$a,$a,$a,$a,$a,$a,$a]; $length([$b,$b,$b,$b,$b,$b,$b,$b,$b,$b] & ""))';
    expect(await outcomeOf(shared, {}, 10_000)).toEqual(overString('&', 10_000));
    expect(await outcomeOf('{ "a": [1, 2] } & "x"', {}, 1000)).toBe(JSON.stringify(await jsonata('{ "a": [1, 2] } & "x"').evaluate({})));
  });

  it('any other function\'s string over the limit is refused where it is returned ($fromMillis widths, $encodeUrl)', async () => {
    expect(await outcomeOf('$contains($fromMillis(0, "[Y,300000000]"), "q")', {}, 1000)).toEqual(overString('$fromMillis', 1000));
    expect(await outcomeOf('$encodeUrl(t)', { t: 'é'.repeat(200) }, 1000)).toEqual(overString('$encodeUrl', 1000));
    expect(await outcomeOf('$encodeUrl(t)', { t: 'é'.repeat(100) }, 1000)).toBe(JSON.stringify(encodeURI('é'.repeat(100))));
  });
});
