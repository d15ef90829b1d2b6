/**
 * A transform failing on an event describes the failure without the event's data (README, Routing: `<value>` stands
 * where JSONata would quote it); compile failures and `$error()` texts are the operator's own and stay whole.
 */
import { describe, expect, it } from '@jest/globals';
import { compileRouteTransform } from '../../services/worker/routing/route-transform.js';
import { describeJsonataError } from '../../services/worker/routing/jsonata-error-description.js';

const bindings = { id: 'uuid-1', provider: 'stripe', eventType: 'invoice.paid', headers: {} };

async function failureOf(expression: string, payload: unknown): Promise<string> {
  const failure = await compileRouteTransform(expression)(payload, bindings).catch((error: unknown) => error);
  return (failure as Error).message;
}

describe('JSONata failures on an event', () => {
  it("replace the quoted payload value with <value> (the README's example)", async () => {
    expect(await failureOf('$number(amount)', { amount: 'jane@example.com' })).toBe('JSONata D3030 at 8: Unable to cast value to a number: <value>');
  });

  it('withhold both values of a comparison but keep the operator', async () => {
    expect(await failureOf('a < b', { a: 'secret-a', b: 7 })).toBe('JSONata T2009 at 3: The values <value> and <value> either side of operator "<" must be of the same data type');
  });

  it("withhold a number but not the template's own numbers", async () => {
    expect(await failureOf('$formatBase(10, radix)', { radix: 37 })).toBe('JSONata D3100 at 12: The radix of the formatBase function must be between 2 and 36.  It was given <value>');
  });

  it("describe an $eval's failure by the failure of the expression it ran, whose values are withheld in turn", async () => {
    expect(await failureOf('$eval("$number(amount)")', { amount: 'jane@example.com' })).toBe(
      'JSONata D3121 at 6: Dynamic error evaluating the expression passed to function eval: JSONata D3030 at 8: Unable to cast value to a number: <value>',
    );
  });

  it('keep values that are the engine\'s own limits, and the route author\'s $error() text', async () => {
    expect(describeJsonataError({ code: 'D1012', value: 1000, message: 'Evaluation timeout after 1000 milliseconds. Check for infinite loop' }, { withholdValues: true })).toBe(
      'JSONata D1012: Evaluation timeout after 1000 milliseconds. Check for infinite loop',
    );
    expect(await failureOf('$error("refund events are not for billing")', {})).toBe('JSONata D3137 at 7: refund events are not for billing');
  });
});
