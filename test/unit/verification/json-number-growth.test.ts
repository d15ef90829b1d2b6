import { describe, expect, it } from '@jest/globals';
import { exponentNumberGrowth } from '../../../services/ingress/verification/json-number-growth.js';

/** `{"a":<number>}`'s growth: what PostgreSQL writes for the number (jsonb's text, measured) less what was sent. */
const growthOf = (number: string) => exponentNumberGrowth(`{"a":${number}}`);

describe('exponentNumberGrowth', () => {
  it('is 0 for numbers without exponent, however long, and for small exponents', () => {
    expect(growthOf('12345678901234567890123456789')).toBe(0);
    expect(growthOf('-0.000000000000000000001')).toBe(0);
    for (const number of ['1.5e3', '1.50e1', '-1.5e-3', '123456789e-5', '1E+2', '120e-1', '0.00e5', '9.99e-1']) {
      expect(growthOf(number)).toBe(0);
    }
  });

  it('is at least what jsonb adds writing the number in full (as measured on PostgreSQL 15)', () => {
    // number → characters jsonb writes beyond the number as sent (e.g. 1e5 → 100000: 3 more).
    const measured: [string, number][] = [
      ['1e5', 3],
      ['0.0e-50', 46],
      ['-0e-5', 2],
      ['1e308', 304],
      ['1e-300', 296],
      ['5e-324', 320],
      ['1.7976931348623157e308', 287],
      ['1e131071', 131064],
      ['1e-16383', 16377],
    ];
    for (const [number, added] of measured) {
      expect(growthOf(number)).toBeGreaterThanOrEqual(added);
      expect(growthOf(number)).toBeLessThanOrEqual(added + 4);
    }
  });

  it('adds up every number, in arrays and nested objects, and is Infinity past what it can count', () => {
    expect(exponentNumberGrowth(`{"a":[${Array(1000).fill('1e308').join(',')}],"b":{"c":1e5}}`)).toBe(304 * 1000 + 3);
    expect(exponentNumberGrowth(`{"a":1e${'9'.repeat(400)}}`)).toBe(Infinity);
    expect(exponentNumberGrowth(`{"a":-1e-${'9'.repeat(400)}}`)).toBe(Infinity);
  });

  it('does not count what strings hold', () => {
    expect(exponentNumberGrowth('{"a":"x:1e999999","b":[1,2]}')).toBe(0);
    expect(exponentNumberGrowth(String.raw`{"sha":"3e4f1e9","b":"\":1e99","c":"x\\","d":1e10}`)).toBe(7); // 1e10 only
  });
});
