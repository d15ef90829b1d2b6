import { describe, expect, it } from '@jest/globals';
import { evaluateInChildProcess } from '../support/child-evaluation.js';

// A regular expression with nested quantifiers over a string that almost matches: JavaScript's backtracking engine
// tries every way of splitting the 40 a's between the groups (2^40 of them) before it gives up, inside one
// synchronous call, and the worker's event loop with it. RE2 answers in microseconds. Each case runs in a child
// process with a deadline far above RE2's time and far below backtracking's, so a regression fails the test by the
// deadline instead of hanging jest.
const HOSTILE = `'a'.repeat(40) + '!'`;
const DEADLINE_MS = 20_000;

describe('regular expressions in routes run in linear time', () => {
  it("a filter's $regex with nested quantifiers answers at once over a hostile string", async () => {
    const result = await evaluateInChildProcess(
      `
      const { compileRouteFilter } = await import('./services/worker/routing/route-filter.ts');
      const filter = compileRouteFilter({ 'body.note': { $regex: '^(a+)+$' } });
      const input = (note) => ({ body: { note }, headers: {}, provider: 'stripe', eventType: 'charge.succeeded' });
      console.log(JSON.stringify([filter(input(${HOSTILE})), filter(input('aaaa'))]));
      `,
      DEADLINE_MS,
    );
    expect(result).toMatchObject({ timedOut: false, code: 0, stdout: '[false,true]\n' });
  }, 30_000);

  // JSONata's 1 s limit is checked between its steps: it cannot stop one match that never returns.
  it("a transform's regex literal with nested quantifiers answers at once over a hostile string ($contains, $match, $replace, $split)", async () => {
    const result = await evaluateInChildProcess(
      `
      const { compileRouteTransform } = await import('./services/worker/routing/route-transform.ts');
      const transform = compileRouteTransform('{ "contains": $contains(note, /^(a+)+$/), "match": $count($match(note, /^(a+)+$/)), "replace": $replace(note, /^(a+)+$/, "x"), "split": $count($split(note, /^(a+)+$/)) }');
      const bindings = { id: 'uuid-1', provider: 'stripe', eventType: 'charge.succeeded', headers: {} };
      console.log((await transform({ note: ${HOSTILE} }, bindings)).toString('utf8'));
      `,
      DEADLINE_MS,
    );
    expect(result).toMatchObject({ timedOut: false, code: 0 });
    expect(JSON.parse(result.stdout)).toEqual({ contains: false, match: 0, replace: 'a'.repeat(40) + '!', split: 1 });
  }, 30_000);
});
