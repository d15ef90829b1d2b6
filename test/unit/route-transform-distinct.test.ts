/**
 * `$distinct` in a transform. JSONata's own compares each item with every item kept before it, in one step that the
 * 1 s time limit (checked between steps) cannot stop: `{ "tags": $distinct(tags) }` over a payload of 150,000
 * distinct numbers (0.9 MB, a body the service accepts) held the worker's event loop for about 5 s per attempt, and
 * four times that payload (MAX_BODY_BYTES raised) for over a minute: the payload alone, under an ordinary transform.
 * The comparisons are counted here rather than timed: each comparison of two objects reads both objects' property
 * names, so items that count their readings tell how many comparisons were made.
 */
import { describe, expect, it } from '@jest/globals';
import jsonata from 'jsonata';
import { compileRouteTransform } from '../../services/worker/routing/route-transform.js';

const bindings = { id: 'evt', provider: 'stripe', eventType: 'charge.succeeded', headers: {} };

/** Comparisons are counted, not timed: a long time limit, so that a loaded test machine never turns an answer into D1012. */
const timeoutMs = 120_000;

describe('transform $distinct', () => {
  it('compares each of many distinct items with next to nothing (not with every item kept before it)', async () => {
    let readings = 0;
    const count = 2000;
    // Each item an object that counts how often its property names are read (what a comparison of two objects does).
    const items = Array.from({ length: count }, (_, index) => new Proxy({ sku: `sku-${index}` }, { ownKeys: (target) => (readings++, Reflect.ownKeys(target)) }));
    const body = await compileRouteTransform('{ "skus": $distinct(items).sku }', { timeoutMs })({ items }, bindings);
    expect(JSON.parse(body.toString('utf8')).skus).toHaveLength(count);
    // JSONata's own: about count² (4 million) readings. Linear: a few per item.
    expect(readings).toBeLessThanOrEqual(3 * count);
  });

  it.each<[string, unknown]>([
    ['$distinct(values)', { values: [1, 2, 1, '1', true, 'true', null, null, 0, -0, 2, 'a', 'a'] }],
    ['$distinct(values)', { values: [{ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, { a: 1, b: [2, 1] }, { a: 1 }, [1, 2], [1, 2], [[1]], [[1]], [], {}, [], {}] }],
    ['$distinct(values)', { values: [[1, 2], { '0': 1, '1': 2, length: 2 }, { '0': 1, length: 1 }, [1], { length: 0 }, [], { '0': 1, length: 1, x: 2 }] }],
    ['$distinct(values)', { values: [{ a: { b: { c: 1 } } }, { a: { b: { c: 1 } } }, { a: { b: { c: '1' } } }] }],
    ['$distinct(items.sku)', { items: [{ sku: 'a' }, { sku: 'b' }, { sku: 'a' }, { sku: ['a', 'c'] }] }],
    ['$distinct(items.tags)', { items: [{ tags: ['x', 'y'] }, { tags: ['y', 'x'] }, { tags: ['x'] }] }],
    ['$distinct(values)', { values: [5] }],
    ['$distinct(value)', { value: 'one' }],
    ['$distinct(values)', { values: [] }],
    ['{ "d": $distinct(missing) }', {}],
    ['$distinct([1, 1, 2] ~> $map(function($v) { [$v, $v] }))', {}],
    ['$count($distinct([$uppercase, $uppercase, $lowercase]))', {}],
  ])('%s gives what JSONata’s own gives (%j)', async (expression, payload) => {
    const theirs = await jsonata(expression).evaluate(payload);
    const ours = await compileRouteTransform(expression, { timeoutMs })(payload, bindings).then(
      (body) => JSON.parse(body.toString('utf8')) as unknown,
      () => undefined,
    );
    expect(ours).toEqual(theirs === undefined ? undefined : JSON.parse(JSON.stringify(theirs)));
  });
});
