/**
 * `$sort` in a transform. JSONata's merge sort merges by recursion, one level per item, each holding a copy of the
 * rest of its run: memory and time grow with the square of the items, in one step the time limit cannot stop.
 * `$sort(tags)` over 20,000 numbers held 824 MB; over 150,000 (0.9 MB, a body the service accepts) the worker ran out
 * of heap and crashed, as did each worker that took the event's retries. Here a worker-like process with a 256 MB heap
 * sorts 40,000 numbers (a 0.2 MB payload); JSONata's own needs some 3 GB for that.
 */
import { describe, expect, it } from '@jest/globals';
import jsonata from 'jsonata';
import { compileRouteTransform } from '../../services/worker/routing/route-transform.js';
import { evaluateInChildProcess } from '../support/child-evaluation.js';

const bindings = { id: 'evt', provider: 'stripe', eventType: 'charge.succeeded', headers: {} };

/** Memory and results are the subject, not the time limit: a long one, so that a loaded test machine never gives D1012. */
const timeoutMs = 120_000;

describe('transform $sort', () => {
  it('sorts a payload of 40,000 numbers in a process with a 256 MB heap (JSONata’s own ran out of memory)', async () => {
    const code = `
      const { compileRouteTransform } = await import('./services/worker/routing/route-transform.ts');
      const count = 40000;
      const tags = Array.from({ length: count }, (_, index) => (index * 7919) % count);
      const body = await compileRouteTransform('( $s := $sort(tags); { "first": $s[0], "last": $s[-1], "count": $count($s) } )', { timeoutMs: ${timeoutMs} })({ tags }, ${JSON.stringify(bindings)});
      console.log(body.toString('utf8'));
    `;
    const child = await evaluateInChildProcess(code, 120_000, ['--max-old-space-size=256']);
    expect({ timedOut: child.timedOut, code: child.code, stdout: child.stdout.trim(), heapExhausted: child.stderr.includes('heap out of memory') }).toEqual({
      timedOut: false,
      code: 0,
      stdout: '{"first":0,"last":39999,"count":40000}',
      heapExhausted: false,
    });
  }, 150_000);

  it.each<[string, unknown]>([
    ['$sort(values)', { values: [3, 1, 2, 10, -1, 2.5] }],
    ['$sort(values)', { values: ['b', 'a', 'C', 'aa', ''] }],
    ['$sort(values)', { values: [3, 'a'] }],
    ['$sort(values)', { values: [1, { a: 1 }] }],
    ['$sort(values)', { values: [7] }],
    ['$sort(values)', {}],
    ['$sort(items, function($l, $r) { $l.price > $r.price })', { items: [{ id: 1, price: 5 }, { id: 2, price: 3 }, { id: 3, price: 5 }, { id: 4, price: 3 }, { id: 5, price: 1 }] }],
    ['$sort(items, function($l, $r) { $l.price < $r.price }).id', { items: [{ id: 1, price: 5 }, { id: 2, price: 3 }, { id: 3, price: 5 }, { id: 4, price: 3 }, { id: 5, price: 1 }] }],
    // A comparator that is no order: the result depends on which pairs are compared, in what order.
    ['$sort(values, function($l, $r) { ($l + $r) % 3 = 1 })', { values: [5, 1, 4, 2, 8, 7, 3, 6, 0, 9, 11, 10] }],
    ['$sort(items.price)', { items: [{ price: 5 }, { price: 3 }, { price: 4 }] }],
    ['$sort(values, function($l, $r) { $l.x > $r.x })', { values: [{ x: 2 }, { x: 1 }] }],
    ['$sort([1, 1/0, 2])', {}],
  ])('%s gives what JSONata’s own gives (%j)', async (expression, payload) => {
    const theirs = await jsonata(expression).evaluate(payload).then(
      (value: unknown) => ({ value: value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown) }),
      (error: { code?: string }) => ({ code: error.code }),
    );
    const ours = await compileRouteTransform(expression, { timeoutMs })(payload, bindings).then(
      (body) => ({ value: JSON.parse(body.toString('utf8')) as unknown }),
      (error: Error) => (/produced no value/.test(error.message) ? { value: undefined } : { code: /JSONata (\w+)/.exec(error.message)?.[1] }),
    );
    expect(ours).toEqual(theirs);
  });
});
