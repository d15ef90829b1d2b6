import { describe, expect, it } from '@jest/globals';
import { compileLinearRegex } from '../../services/worker/routing/linear-regex.js';
import { compileRouteFilter } from '../../services/worker/routing/route-filter.js';

describe('compileLinearRegex (RE2)', () => {
  it('reads JavaScript RegExp syntax: classes, escapes, anchors, named groups, \\u escapes', () => {
    const cases: [string, string, string, boolean][] = [
      ['^charge\\.(succeeded|failed)$', '', 'charge.failed', true],
      ['^ch_[a-z0-9]{8}$', '', 'ch_1a2b3c4d', true],
      ['\\bfoo\\b', '', 'a foo b', true],
      ['\\bfoo\\b', '', 'afoob', false],
      ['^\\d+\\s\\w+$', '', '12 abc', true],
      ['(?<year>\\d{4})-\\d{2}', '', 'on 2025-01', true],
      ['caf\\u00e9', '', 'café', true],
      ['\\uD83D\\uDE00', '', 'smile 😀', true],
      ['\\u{1F600}', '', 'smile 😀', true],
      ['\\\\u0041', '', '\\u0041', true],
      ['a/b', '', 'a/b', true],
      ['\\p{Lu}', '', 'É', true],
    ];
    for (const [source, flags, text, matches] of cases) expect([source, compileLinearRegex(source, flags).test(text)]).toEqual([source, matches]);
  });

  it('takes the flags i, m and s as RegExp does', () => {
    expect(compileLinearRegex('^stripe$', 'i').test('Stripe')).toBe(true);
    expect(compileLinearRegex('^b$').test('a\nb')).toBe(false);
    expect(compileLinearRegex('^b$', 'm').test('a\nb')).toBe(true);
    expect(compileLinearRegex('a.b').test('a\nb')).toBe(false);
    expect(compileLinearRegex('a.b', 's').test('a\nb')).toBe(true);
    expect(() => compileLinearRegex('a', 'x')).toThrow('regular expression /a/x: flag "x" is not supported (i, m and s are)');
  });

  it('refuses, in one line naming the expression and the reason, what RE2 cannot run: backreferences and lookarounds', () => {
    const refused: [string, string][] = [
      ['(a)\\1', 'invalid escape sequence: `\\1`'],
      ['(?<q>["\'])\\k<q>', 'invalid escape sequence: `\\k`'],
      ['price(?= EUR)', 'invalid or unsupported Perl syntax: `(?=`'],
      ['price(?! EUR)', 'invalid or unsupported Perl syntax: `(?!`'],
      ['(?<=EUR )price', '(?<=EUR )price'],
      ['(?<!EUR )price', '(?<!EUR )price'],
      ['a{1001}', 'invalid repeat count'],
    ];
    for (const [source, reason] of refused) {
      let message = '';
      try {
        compileLinearRegex(source);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain(`regular expression /${source}/ cannot run on RE2, the linear-time engine (no backreferences, lookahead or lookbehind; a repeat count is at most 1000): `);
      expect(message).toContain(reason);
      expect(message).not.toContain('\n');
    }
  });

  it('tells an expression JavaScript would not compile either as RegExp tells it', () => {
    expect(() => compileLinearRegex('([a-z')).toThrow('Invalid regular expression: /([a-z/: Unterminated character class');
  });
});

describe("a filter's $regex runs on RE2", () => {
  const input = (note: unknown) => ({ body: { note }, headers: {}, provider: 'stripe', eventType: 'charge.succeeded' });

  it('matches anywhere in a string, any element of an array, with $options i, m, s; never a non-string', () => {
    expect(compileRouteFilter({ 'body.note': { $regex: 'refund' } })(input('partial refund of order'))).toBe(true);
    expect(compileRouteFilter({ 'body.note': { $regex: '^refund' } })(input('partial refund'))).toBe(false);
    expect(compileRouteFilter({ 'body.note': { $regex: '^REFUND', $options: 'i' } })(input('refund'))).toBe(true);
    expect(compileRouteFilter({ 'body.note': { $regex: '^b$', $options: 'm' } })(input('a\nb'))).toBe(true);
    expect(compileRouteFilter({ 'body.note': { $regex: 'a.b', $options: 's' } })(input('a\nb'))).toBe(true);
    expect(compileRouteFilter({ 'body.note': { $regex: '^vip-' } })(input(['basic', 'vip-gold']))).toBe(true);
    expect(compileRouteFilter({ 'body.note': { $regex: '^1' } })(input(12))).toBe(false);
    expect(compileRouteFilter({ 'body.note': { $not: { $regex: '^test-' } } })(input('live-1'))).toBe(true);
    expect(compileRouteFilter({ 'body.note': { $not: { $regex: '^test-' } } })(input('test-1'))).toBe(false);
  });

  it('refuses at compile time a pattern RE2 cannot run, an $options it has not, $options alone and a non-string pattern', () => {
    expect(() => compileRouteFilter({ 'body.note': { $regex: '(a)\\1' } })).toThrow(/^regular expression \/\(a\)\\1\/ cannot run on RE2, the linear-time engine .*: invalid escape sequence: `\\1`$/);
    expect(() => compileRouteFilter({ 'body.note': { $regex: 'a(?=b)' } })).toThrow(/cannot run on RE2.*invalid or unsupported Perl syntax: `\(\?=`/);
    expect(() => compileRouteFilter({ 'body.note': { $regex: 'a b', $options: 'x' } })).toThrow('$options "x" is not supported: use any of i (case-insensitive), m (multi-line ^ and $), s (dot matches newline)');
    expect(() => compileRouteFilter({ 'body.note': { $options: 'i' } })).toThrow('$options needs a $regex beside it');
    expect(() => compileRouteFilter({ 'body.note': { $regex: 5 } })).toThrow('$regex must be a string (got 5)');
  });
});
