/**
 * A filter's `$mod` holds, as in MongoDB, for a number whose remainder is the one given (or an array holding such a
 * number). sift computed `value % divisor` on whatever the field held, and JavaScript's `%` reads `null`, `false`,
 * `""`, `" "` and `[]` as 0: `{ "body.amount": { "$mod": [100, 0] } }` (round amounts) took an event whose amount
 * was null or empty, and sent it to the route's destination.
 */
import { describe, expect, it } from '@jest/globals';
import { compileRouteFilter } from '../../services/worker/routing/route-filter.js';

const roundAmounts = compileRouteFilter({ 'body.amount': { $mod: [100, 0] } });
const takes = (amount: unknown) => roundAmounts({ body: { amount }, headers: {}, provider: 'stripe', eventType: 'charge.succeeded' });

describe('route filter $mod', () => {
  it.each<[string, unknown]>([
    ['null', null],
    ['false', false],
    ['an empty string', ''],
    ['a blank string', ' '],
    ['a numeric string', '200'],
    ['an empty array', []],
    ['an array holding null', [null]],
  ])('does not take %s (MongoDB matches only numbers)', (_case, amount) => {
    expect(takes(amount)).toBe(false);
  });

  it('takes numbers with the remainder, and arrays holding one, as before', () => {
    expect(takes(200)).toBe(true);
    expect(takes(0)).toBe(true);
    expect(takes(-300)).toBe(true);
    expect(takes(150)).toBe(false);
    expect(takes([150, 200])).toBe(true);
    expect(takes([150])).toBe(false);
    expect(roundAmounts({ body: {}, headers: {}, provider: 'stripe', eventType: 'charge.succeeded' })).toBe(false);
    expect(compileRouteFilter({ 'body.amount': { $mod: [2, 1] } })({ body: { amount: 7 }, headers: {}, provider: 'stripe', eventType: 'x' })).toBe(true);
  });

  it('$not $mod takes what is no such number, null included', () => {
    expect(compileRouteFilter({ 'body.amount': { $not: { $mod: [100, 0] } } })({ body: { amount: null }, headers: {}, provider: 'stripe', eventType: 'x' })).toBe(true);
  });
});
