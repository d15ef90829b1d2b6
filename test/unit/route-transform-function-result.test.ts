/**
 * A transform that yields a function (a JSONata lambda, alone or inside the result) has nothing JSON can send: the
 * transform's own doc says it "rejects with a RouteTransformError … when it yields nothing to send (no value, or only
 * a function)", and README (Routing) says such an attempt records "transform of routes.N failed: …" in lastError.
 * A lambda instead makes JSON.stringify throw a TypeError ("Converting circular structure to JSON" over JSONata's
 * closure environment), which the worker records as `internal error: TypeError: …` and logs at error level as
 * "delivery failed inside the worker", pointing the operator at the worker, not at the route's transform. A built-in
 * function (`$uppercase`) is not refused at all: it is sent as `{"_jsonata_function":true,"signature":{…}}`, JSONata's
 * internal representation, and the delivery counts as a success.
 */
import { describe, expect, it } from '@jest/globals';
import { compileRouteTransform, RouteTransformError } from '../../services/worker/routing/route-transform.js';

const bindings = { id: 'uuid-1', provider: 'stripe', eventType: 'invoice.paid', headers: {} };

async function outcomeOf(expression: string): Promise<unknown> {
  return compileRouteTransform(expression)({ amount: 1 }, bindings).catch((error: unknown) => error);
}

describe('a transform whose result is a function', () => {
  it('a built-in function alone is a RouteTransformError (nothing to send), not JSONata internals sent as the body', async () => {
    const builtIn = await outcomeOf('$uppercase');
    expect(Buffer.isBuffer(builtIn) ? builtIn.toString('utf8') : builtIn).toBeInstanceOf(RouteTransformError);
  });

  it('a lambda alone is a RouteTransformError (nothing to send)', async () => {
    expect(await outcomeOf('function($v) { $v }')).toBeInstanceOf(RouteTransformError);
  });

  it('a lambda inside the result is a RouteTransformError, not a TypeError about circular structures', async () => {
    const lambda = await outcomeOf('{ "amount": amount, "format": function($v) { $v } }');
    expect(lambda).toBeInstanceOf(RouteTransformError);
  });
});
