/**
 * The order-by operator (`items^(price)`) in a transform. It runs JSONata's own merge sort (it cannot be replaced from
 * outside, unlike `$sort`), which holds a copy of the rest of a run for each item a merge takes: memory grows with
 * the square of the list's length, and the list comes from the payload. Its comparisons evaluate the order-by's
 * terms, so the time limit does stop it, but only after a second of that growth: an order-by over 100,000 objects
 * grew the process by 270–360 MB (peak resident memory) before the limit stopped it on a 2-core test machine, and a
 * faster machine reaches a larger merge (memory in the square of it) within the same second. The comparisons are now
 * counted and the transform fails past a budget, which holds the memory to a few tens of MB whatever the machine.
 */
import { describe, expect, it } from '@jest/globals';
import jsonata from 'jsonata';
import { compileRouteTransform } from '../../services/worker/routing/route-transform.js';
import { ORDER_BY_COMPARISON_BUDGET } from '../../services/worker/routing/order-by-budget.js';
import { evaluateInChildProcess } from '../support/child-evaluation.js';

const bindings = { id: 'evt', provider: 'stripe', eventType: 'charge.succeeded', headers: {} };

/**
 * These tests are about what an order-by computes and when its budget stops it, not about the time limit
 * (route-transform-time-limit): a long one, so that a loaded test machine never turns their answer into D1012.
 */
const timeoutMs = 120_000;

const budgetMessage = (budget = ORDER_BY_COMPARISON_BUDGET): string => `JSONata: order-by (^( )) over this event's list made more than ${budget} comparisons`;

/** The outcome of an evaluation, comparable between JSONata's own and the transform: a value, or an error's code and position. */
async function outcome(run: () => Promise<unknown>): Promise<unknown> {
  return run().then(
    (value) => ({ value: value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown) }),
    (error: { code?: string; position?: number; message?: string }) => {
      if (error instanceof Error && /produced no value/.test(error.message)) return { value: undefined };
      if (error instanceof Error) {
        const [, code, position] = /^JSONata (\w+)(?: at (\d+))?:/.exec(error.message) ?? [];
        return { code, position: position === undefined ? undefined : Number(position) };
      }
      return { code: error.code, position: error.position };
    },
  );
}

describe('transform order-by', () => {
  it('fails an order-by over a payload list of 100,000 objects past its comparison budget, its memory held small', async () => {
    const code = `
      const { compileRouteTransform } = await import('./services/worker/routing/route-transform.ts');
      const count = 100000;
      // Descending prices sorted ascending: each merge takes the right run's items first, copying the rest of it.
      const items = Array.from({ length: count }, (_, index) => ({ id: index, price: count - index }));
      const transform = compileRouteTransform('{ "ids": items^(price).id }', { timeoutMs: ${timeoutMs} });
      const before = process.resourceUsage().maxRSS;
      const message = await transform({ items }, ${JSON.stringify(bindings)}).then((body) => body.toString('utf8').slice(0, 80), (error) => error.message);
      console.log(JSON.stringify({ message, peakGrowthMB: Math.round((process.resourceUsage().maxRSS - before) / 1024) }));
    `;
    const child = await evaluateInChildProcess(code, 120_000);
    expect({ timedOut: child.timedOut, code: child.code, stderr: child.stderr }).toEqual({ timedOut: false, code: 0, stderr: '' });
    const { message, peakGrowthMB } = JSON.parse(child.stdout) as { message: string; peakGrowthMB: number };
    expect(message).toContain(budgetMessage());
    expect(message).toContain('$sort(items, function($l, $r) { $l.price > $r.price })');
    // Without the budget: D1012 (the default 1 s time limit) after 270–360 MB of peak growth on a 2-core test machine,
    // and far more before this test's long limit; with it, 35–80 MB (garbage included) in about 0.2 s.
    expect(peakGrowthMB).toBeLessThan(150);
  }, 150_000);

  // A small budget here, so that each case is quick.
  it.each([
    'items#$i^(price).{ "id": id, "i": $i }',
    'items@$x^($x.price).$x.id',
    '( $byId := function($l) { $l^(>id, price) }; $byId(items) )',
    '{ "sorted": items^(price) }',
  ])('fails the same way past the budget: %s', async (expression) => {
    const items = Array.from({ length: 20_000 }, (_, index) => ({ id: -index, price: -index }));
    await expect(compileRouteTransform(expression, { orderByComparisons: 2000, timeoutMs })({ items }, bindings)).rejects.toThrow(budgetMessage(2000));
  });

  it('counts the comparisons of each event afresh', async () => {
    // ~2 x 900 comparisons per event: five events in a row would pass a budget counted across events.
    const lists = Array.from({ length: 2 }, (_, list) => ({ items: Array.from({ length: 150 }, (_, index) => ({ id: index, price: (index * 31 + list) % 150 })) }));
    const transform = compileRouteTransform('$count(lists.(items^(price)))', { orderByComparisons: 3000, timeoutMs });
    for (let event = 0; event < 5; event++) expect((await transform({ lists }, bindings)).toString('utf8')).toBe('300');
  });

  const items = [
    { id: 1, price: 5, sku: 'b' },
    { id: 2, price: 3, sku: 'a' },
    { id: 3, sku: 'c' },
    { id: 4, price: 5, sku: 'a' },
    { id: 5, price: 1 },
    { id: 6, price: 3, sku: 'c' },
  ];
  const orders = [
    { id: 'o1', date: '2024-02', lines: [{ sku: 'z' }, { sku: 'x' }] },
    { id: 'o2', date: '2024-01', lines: [{ sku: 'y' }, { sku: 'w' }] },
  ];
  const many = { lists: Array.from({ length: 150 }, (_, list) => ({ items: Array.from({ length: 12 }, (_, index) => ({ id: index, price: (index * 7 + list) % 12 })) })) };

  it.each<[string, unknown]>([
    ['items^(price).id', { items }],
    ['items^(>price).id', { items }],
    ['items^(price, >sku).id', { items }],
    ['items^(>price, sku).id', { items }],
    ['items^(sku).id', { items }],
    ['items^($string(id)).id', { items }],
    ['items#$i^(>price).{ "id": id, "i": $i }', { items }],
    ['items#$i^($i % 2, price).id', { items }],
    ['orders@$o.lines^($o.date, sku).{ "order": $o.id, "sku": sku }', { orders }],
    ['lists.(items^(>price).id)', many],
    ['$map(lists, function($l) { $l.items^(price, >id).id })', many],
    ['(items)^(price).id', { items }],
    ['items^(price)[0].id', { items }],
    ['items^(price)', { items: [{ price: 1 }] }],
    ['items^(price)', {}],
    ['( $p := 0; items^($p := price); $p )', { items }],
    ['items^(items^(>price)[0].id, price).id', { items }],
    // Failures keep their codes and positions.
    ['items^(price)', { items: [{ price: 1 }, { price: 'a' }] }],
    ['items^(price)', { items: [{ price: 1 }, { price: { a: 1 } }] }],
    ['items^($number(sku)).id', { items }],
    ['items^(price[])', { items: [{ price: 1 }, { price: 2 }] }],
    ['items^($error("no order"))', { items }],
  ])('%s gives what JSONata’s own gives', async (expression, payload) => {
    const theirs = await outcome(() => jsonata(expression).evaluate(payload));
    const ours = await outcome(async () => JSON.parse((await compileRouteTransform(expression, { timeoutMs })(payload, bindings)).toString('utf8')) as unknown);
    expect(ours).toEqual(theirs);
  });

  it('still refuses a call of a function JSONata lacks inside an order-by, and compiles one it has', () => {
    expect(() => compileRouteTransform('items^($uppercse(sku))')).toThrow('JSONata at 17: $uppercse is not a JSONata function');
    expect(() => compileRouteTransform('items^($uppercase(sku))')).not.toThrow();
  });
});
