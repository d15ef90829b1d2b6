import { describe, expect, it } from '@jest/globals';
import jsonata from 'jsonata';
import { LinearRegexEngine } from '../../services/worker/routing/jsonata-regex-engine.js';
import { jsonataRegexLiterals } from '../../services/worker/routing/jsonata-regex-literals.js';
import { compileRouteTransform } from '../../services/worker/routing/route-transform.js';

const bindings = { id: 'uuid-1', provider: 'stripe', eventType: 'charge.succeeded', headers: {} };

/** What an expression yields (as JSON) or the JSONata error code it fails with, with the given regex engine. */
async function outcome(expression: string, input: unknown, RegexEngine?: RegExpConstructor): Promise<unknown> {
  try {
    return JSON.parse(JSON.stringify((await jsonata(expression, RegexEngine ? { RegexEngine } : {}).evaluate(input)) ?? null));
  } catch (error) {
    return { error: (error as { code?: string }).code ?? String(error) };
  }
}

describe('LinearRegexEngine: JSONata regex functions on RE2', () => {
  it.each([
    ['$match(s, /(\\w+)@(\\w+)\\.com/)', 'a@b.com, c@d.com'],
    ['$match(s, /(x)?(y)/)', 'zy y xy'],
    ['$match(s, /^a/)', 'aaa'],
    ['$match(s, /^b/m)', 'a\nb\nbb'],
    ['$match(s, /\\bfoo\\b/i)', 'Foo foo food'],
    ['$match(s, /é+/)', '😀éé x é'],
    ['$match(s, /b*/)', 'abc'],
    ['$match(s, /\\d+/, 2)', '1 22 333 4444'],
    ['$replace(s, /(\\w+)@(\\w+)/, "$2 at $1")', 'me@host, you@there'],
    ['$replace(s, /a/i, "-", 2)', 'AaAa'],
    ['$replace(s, /(\\d{4})-(\\d{2})/, function($m) { $m.groups[1] & "/" & $m.groups[0] })', 'from 2024-05 to 2025-11'],
    ['$split(s, /,\\s*/)', 'a, b,c,  d'],
    ['$split(s, /,/, 2)', 'a,b,c'],
    ['$contains(s, /^ch_[a-z0-9]+$/)', 'ch_1a2b'],
    ['$contains(s, /^ch_[a-z0-9]+$/)', 'ch_1A2B'],
    ['s ~> /ch_(\\d+)/', 'id ch_42'],
  ])('%s over %j is what JavaScript’s engine makes of it', async (expression, s) => {
    const expected = await outcome(expression, { s });
    expect(await outcome(expression, { s }, LinearRegexEngine as unknown as RegExpConstructor)).toEqual(expected);
  });

  it('keeps lastIndex as a global RegExp does: from it, moved past each match, back to 0 when none is left', () => {
    const engine = new LinearRegexEngine(/b(\d)?/g);
    const native = /b(\d)?/g;
    for (const input of ['ab1cb', 'ab1cb']) {
      for (let i = 0; i < 3; i++) {
        const [ours, theirs] = [engine.exec(input), native.exec(input)];
        expect([ours && [...ours], ours?.index, engine.lastIndex]).toEqual([theirs && [...theirs], theirs?.index, native.lastIndex]);
      }
    }
    engine.lastIndex = 99;
    expect(engine.exec('ab')).toBeNull();
    expect(engine.lastIndex).toBe(0);
  });
});

describe('regex literals of a transform are checked when it is compiled', () => {
  it('finds every regex literal, wherever it stands in the expression', () => {
    const compiled = jsonata('( $f := function($x) { $replace($x, /(a)b/i, "$1") }; { "m": $match(s, /x+/)[0].match, "c": items[$contains(name, /^v/m)] } )');
    expect(jsonataRegexLiterals(compiled.ast()).map(({ regex }) => String(regex))).toEqual(['/(a)b/gi', '/x+/g', '/^v/gm']);
  });

  it.each([
    ['a backreference', '$match(s, /(a)\\1/)', /^JSONata at \d+: regular expression \/\(a\)\\1\/ cannot run on RE2, the linear-time engine .*: invalid escape sequence: `\\1`$/],
    ['a lookahead in a lambda', '( $f := function($x) { $contains($x, /price(?= EUR)/) }; $f(s) )', /^JSONata at \d+: regular expression \/price\(\?= EUR\)\/ cannot run on RE2.*`\(\?=`$/],
    ['a lookbehind in a predicate', 'items[$contains(name, /(?<=v)ip/)]', /^JSONata at \d+: regular expression \/\(\?<=v\)ip\/ cannot run on RE2/],
  ])('refuses %s, naming the expression and where it is', (_case, expression, message) => {
    expect(() => compileRouteTransform(expression)).toThrow(message);
  });

  it('an engine RE2 cannot build at evaluation fails the event with the reason (JSONata given the engine without the check)', async () => {
    const failure = await jsonata('$contains(s, /(a)\\1/)', { RegexEngine: LinearRegexEngine as unknown as RegExpConstructor })
      .evaluate({ s: 'aa' })
      .catch((error: unknown) => error);
    expect((failure as Error).message).toMatch(/^regular expression \/\(a\)\\1\/ cannot run on RE2/);
  });

  it('a transform with regex literals RE2 can run works as before', async () => {
    const transform = compileRouteTransform('{ "customer": $replace(email, /@.*$/, ""), "vip": $contains(plan, /^vip-/i) }');
    expect(JSON.parse((await transform({ email: 'jo@example.com', plan: 'VIP-gold' }, bindings)).toString('utf8'))).toEqual({ customer: 'jo', vip: true });
  });
});
