import { describe, expect, it } from '@jest/globals';
import { natsSubjectProblem, natsSubjectTemplateProblem, renderAddress } from '../../services/worker/routing/address-template.js';
import { compileRouteFilter } from '../../services/worker/routing/route-filter.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { compileRouteTransform, RouteTransformError } from '../../services/worker/routing/route-transform.js';
import { destinationType, parseRoutes } from '../../services/worker/routing/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';
const parse = (text: string) => parseRoutes(text, SOURCE);

const bus = (extra = '') => `destinations:\n  bus:\n    type: amqp\n    url: amqp://user:pass@rabbitmq:5672\n    exchange: webhooks\n    routingKey: "{provider}.{eventType}"\n${extra}routes: []\n`;
const stream = (subject: string) => `destinations:\n  stream:\n    type: nats\n    url: nats://nats:4222\n    subject: ${JSON.stringify(subject)}\nroutes: []\n`;
const route = (lines: string) => `destinations:\n  billing: { url: "http://billing.internal/hooks" }\nroutes:\n  - provider: stripe\n    to: [billing]\n${lines}`;

describe('ROUTES_FILE destination types', () => {
  it('a destination without type is http, as before; amqp and nats destinations keep their broker fields', () => {
    const file = parse(`
destinations:
  billing: { url: "http://billing.internal/hooks" }
  explicit: { type: http, url: "https://explicit.internal/hooks" }
  bus: { type: amqp, url: "amqp://user:pass@rabbitmq:5672", exchange: webhooks, routingKey: "{provider}.{eventType}", timeoutMs: 3000 }
  stream: { type: nats, url: "nats://nats:4222", subject: "webhooks.{provider}.{eventType}", secret: whsec_dGVzdA== }
routes:
  - { provider: stripe, to: [billing, explicit, bus, stream] }
`);
    expect(file.destinations.billing).toEqual({ url: 'http://billing.internal/hooks' });
    expect(destinationType(file.destinations.billing!)).toBe('http');
    expect(destinationType(file.destinations.explicit!)).toBe('http');
    expect(file.destinations.bus).toEqual({ type: 'amqp', url: 'amqp://user:pass@rabbitmq:5672', exchange: 'webhooks', routingKey: '{provider}.{eventType}', timeoutMs: 3000 });
    expect(file.destinations.stream).toEqual({ type: 'nats', url: 'nats://nats:4222', subject: 'webhooks.{provider}.{eventType}', secret: 'whsec_dGVzdA==' });
  });

  it.each([
    ['an unknown type', 'destinations:\n  bus: { type: kafka, url: "kafka://k:9092" }\n', 'destination "bus": type: unknown destination type "kafka" (expected http, amqp, nats)'],
    ['a missing exchange', 'destinations:\n  bus: { type: amqp, url: "amqp://r:5672", routingKey: "{provider}" }\n', 'destination "bus": exchange: required for a destination of type amqp'],
    ['a missing routing key', 'destinations:\n  bus: { type: amqp, url: "amqp://r:5672", exchange: webhooks }\n', 'destination "bus": routingKey: required for a destination of type amqp'],
    ['a missing broker URL', 'destinations:\n  bus: { type: amqp, exchange: webhooks, routingKey: "{provider}" }\n', 'destination "bus": url: required for a destination of type amqp'],
    ['an http URL on an amqp destination', 'destinations:\n  bus: { type: amqp, url: "http://r:5672", exchange: webhooks, routingKey: "{provider}" }\n', 'destination "bus": url: must be an amqp:// or amqps:// URL'],
    ['a missing subject', 'destinations:\n  stream: { type: nats, url: "nats://n:4222" }\n', 'destination "stream": subject: required for a destination of type nats'],
    ['an amqp URL on a nats destination', 'destinations:\n  stream: { type: nats, url: "amqp://n:4222", subject: "a.b" }\n', 'destination "stream": url: must be a nats:// or tls:// URL'],
    ['an unknown placeholder', 'destinations:\n  stream: { type: nats, url: "nats://n:4222", subject: "webhooks.{id}" }\n', 'destination "stream": subject: unknown placeholder {id} (a template may use {provider} and {eventType})'],
    ['a subject with an empty token', 'destinations:\n  stream: { type: nats, url: "nats://n:4222", subject: "webhooks..{provider}" }\n', 'destination "stream": subject: "webhooks..{provider}" has an empty token (a leading, trailing or doubled ".")'],
    ['a wildcard subject', 'destinations:\n  stream: { type: nats, url: "nats://n:4222", subject: "webhooks.>" }\n', 'destination "stream": subject: "webhooks.>" has a wildcard token ("*" or ">"), which cannot be published to'],
    [
      'a subject whose first token the event fills in',
      'destinations:\n  stream: { type: nats, url: "nats://n:4222", subject: "{eventType}" }\n',
      'destination "stream": subject: "{eventType}" must start with a literal token, e.g. "webhooks.{provider}.{eventType}" (its first token "{eventType}" would be the event\'s to choose, e.g. $JS.API.…, a JetStream API request)',
    ],
    ['a subject rooted at the provider', 'destinations:\n  stream: { type: nats, url: "nats://n:4222", subject: "{provider}.{eventType}" }\n', 'destination "stream": subject: "{provider}.{eventType}" must start with a literal token'],
    ['a subject with a placeholder in its first token', 'destinations:\n  stream: { type: nats, url: "nats://n:4222", subject: "hooks-{provider}.x" }\n', 'destination "stream": subject: "hooks-{provider}.x" must start with a literal token'],
    ['a JetStream API subject', 'destinations:\n  stream: { type: nats, url: "nats://n:4222", subject: "$JS.API.{eventType}" }\n', 'destination "stream": subject: "$JS.API.{eventType}" starts with "$JS", which NATS reserves for its own APIs ($JS.API, $SYS, …) and replies (_INBOX): never published to'],
    ['a reply subject', 'destinations:\n  stream: { type: nats, url: "nats://n:4222", subject: "_INBOX.{eventType}" }\n', 'destination "stream": subject: "_INBOX.{eventType}" starts with "_INBOX", which NATS reserves'],
  ])('stops the start on %s, naming the file, the destination and the problem in one line', (_case, text, message) => {
    expect(() => parse(`${text}routes: []\n`)).toThrow(`${SOURCE}: ${message}`);
    try {
      parse(`${text}routes: []\n`);
    } catch (error) {
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('an amqp destination may set maxMessageBytes (the broker’s max_message_size), a positive whole number; other types may not', () => {
    expect(parse(bus('    maxMessageBytes: 2097152\n')).destinations.bus).toMatchObject({ maxMessageBytes: 2097152 });
    expect(() => parse(bus('    maxMessageBytes: 0\n'))).toThrow(/^ROUTES_FILE \/etc\/routes\.yaml: destination "bus": maxMessageBytes: /);
    expect(() => parse(stream('webhooks.{eventType}').replace('routes: []', '    maxMessageBytes: 1000\nroutes: []'))).toThrow(/destination "stream": unknown key "maxMessageBytes"/);
  });

  it('a broker destination takes the common settings (secret checked as for http)', () => {
    expect(() => parse(bus('    secret: whsec_not-base64!\n'))).toThrow(/^ROUTES_FILE \/etc\/routes\.yaml: destination "bus": secret: Invalid Standard Webhooks secret: must be base64/);
    expect(parse(bus('    maxConcurrency: 4\n    headers: { x-team: payments }\n')).destinations.bus).toMatchObject({ maxConcurrency: 4, headers: { 'x-team': 'payments' } });
  });
});

describe('ROUTES_FILE route filters and transforms', () => {
  it('accepts a MongoDB-style filter and a JSONata transform', () => {
    const file = parse(route(`    filter: { "body.data.object.amount": { "$gte": 1000 }, provider: stripe }\n    transform: '{ "id": id, "amount": data.object.amount }'\n`));
    expect(file.routes[0]).toMatchObject({ filter: { 'body.data.object.amount': { $gte: 1000 }, provider: 'stripe' }, transform: '{ "id": id, "amount": data.object.amount }' });
  });

  it.each([
    ['an unknown operator', '    filter: { "body.amount": { "$bigger": 3 } }\n', 'routes.0.filter: the query does not compile: Unsupported operation: $bigger'],
    ['$where (it runs code)', '    filter: { "$where": "this.body.amount > 3" }\n', 'routes.0.filter: the query does not compile: $where is not allowed (it runs code); use the query operators'],
    ['a regex that does not compile', '    filter: { "eventType": { "$regex": "([a-z" } }\n', 'routes.0.filter: the query does not compile: Invalid regular expression'],
    [
      'a regex RE2 cannot run (a backreference)',
      '    filter: { "body.note": { "$regex": "(a)\\\\1" } }\n',
      'routes.0.filter: the query does not compile: regular expression /(a)\\1/ cannot run on RE2, the linear-time engine (no backreferences, lookahead or lookbehind; a repeat count is at most 1000): invalid escape sequence: `\\1`',
    ],
    ['$options RE2 has not (x)', '    filter: { "body.note": { "$regex": "a b", "$options": "x" } }\n', 'routes.0.filter: the query does not compile: $options "x" is not supported'],
    ['a $type alias that is no JSON type (it threw on every event)', '    filter: { "body.id": { "$type": "objectId" } }\n', 'routes.0.filter: the query does not compile: $type "objectId" is not a JSON type: use one of number, string, bool, array, object, null'],
    ['a BSON $type number', '    filter: { "body.id": { "$type": 2 } }\n', 'routes.0.filter: the query does not compile: $type 2 is not a JSON type'],
    ['a filter that is no mapping', '    filter: "amount > 3"\n', 'routes.0.filter: must be a mapping (a MongoDB-style query)'],
    // sift took these and matched no event with them: the route's destination was silently sent nothing.
    ['$mod by 0', '    filter: { "body.n": { "$mod": [0, 1] } }\n', 'routes.0.filter: the query does not compile: $mod: the divisor cannot be 0'],
    ['$mod not a [divisor, remainder] list', '    filter: { "body.n": { "$mod": 2 } }\n', 'routes.0.filter: the query does not compile: $mod takes a list of two numbers, [divisor, remainder] (got 2)'],
    ['$mod with one number', '    filter: { "body.n": { "$mod": [2] } }\n', 'routes.0.filter: the query does not compile: $mod takes a list of two numbers, [divisor, remainder] (got [2])'],
    ['$size not a number', '    filter: { "body.items": { "$size": "2" } }\n', 'routes.0.filter: the query does not compile: $size takes a whole number, an array\'s length (got "2")'],
    ['$size negative', '    filter: { "body.items": { "$size": -1 } }\n', 'routes.0.filter: the query does not compile: $size takes a whole number, an array\'s length (got -1)'],
    // sift refused these with its internals ("params.map is not a function").
    ['$and not a list', '    filter: { "$and": { "provider": "stripe" } }\n', 'routes.0.filter: the query does not compile: $and takes a non-empty list of queries (got {"provider":"stripe"})'],
    ['$nor not a list', '    filter: { "$nor": { "provider": "stripe" } }\n', 'routes.0.filter: the query does not compile: $nor takes a non-empty list of queries (got {"provider":"stripe"})'],
    ['$or of no queries', '    filter: { "$or": [ "stripe" ] }\n', 'routes.0.filter: the query does not compile: $or takes a non-empty list of queries (got ["stripe"])'],
    ['$all not a list', '    filter: { "body.tags": { "$all": "a" } }\n', 'routes.0.filter: the query does not compile: $all takes a list of values (got "a")'],
    ['a transform that does not compile', "    transform: '{ \"id\": '\n", 'routes.0.transform: the JSONata expression does not compile: JSONata S0203 at 8: Expected "}" before end of expression'],
    ['a transform that is no string', '    transform: { id: 1 }\n', 'routes.0.transform: must be a string (a JSONata expression)'],
    [
      'a transform regex literal RE2 cannot run (a lookahead)',
      "    transform: '$contains(note, /price(?= EUR)/)'\n",
      'routes.0.transform: the JSONata expression does not compile: JSONata at 31: regular expression /price(?= EUR)/ cannot run on RE2, the linear-time engine (no backreferences, lookahead or lookbehind; a repeat count is at most 1000): invalid or unsupported Perl syntax: `(?=`',
    ],
  ])('stops the start on %s, naming the file, the route and the problem', (_case, lines, message) => {
    expect(() => parse(route(lines))).toThrow(`${SOURCE}: ${message}`);
  });
});

describe('route filters (sift) over {body, headers, provider, eventType}', () => {
  const input = (amount: number, headers: Record<string, string> = {}) => ({
    body: { id: 'evt_1', data: { object: { amount, currency: 'eur', tags: ['a', 'b'] } } },
    headers,
    provider: 'stripe',
    eventType: 'charge.succeeded',
  });

  it('evaluates operators, dot paths, headers, provider and type', () => {
    expect(compileRouteFilter({ 'body.data.object.amount': { $gte: 1000 } })(input(1000))).toBe(true);
    expect(compileRouteFilter({ 'body.data.object.amount': { $gte: 1000 } })(input(999))).toBe(false);
    expect(compileRouteFilter({ 'body.data.object.currency': { $in: ['eur', 'usd'] }, eventType: { $regex: '^charge\\.' } })(input(1))).toBe(true);
    expect(compileRouteFilter({ 'headers.user-agent': 'Stripe/1.0' })(input(1, { 'user-agent': 'Stripe/1.0' }))).toBe(true);
    expect(compileRouteFilter({ 'headers.user-agent': 'Stripe/1.0' })(input(1))).toBe(false);
    expect(compileRouteFilter({ $or: [{ provider: 'github' }, { 'body.data.object.tags': 'b' }] })(input(1))).toBe(true);
    expect(compileRouteFilter({ 'body.data.object.missing': { $exists: false } })(input(1))).toBe(true);
  });

  it('$mod, $size, $all, $and, $or and $nor match as before with the arguments MongoDB takes', () => {
    expect(compileRouteFilter({ 'body.data.object.amount': { $mod: [2, 0] } })(input(1000))).toBe(true);
    expect(compileRouteFilter({ 'body.data.object.amount': { $mod: [2, 0] } })(input(999))).toBe(false);
    expect(compileRouteFilter({ 'body.data.object.tags': { $size: 2 } })(input(1))).toBe(true);
    expect(compileRouteFilter({ 'body.data.object.tags': { $size: 0 } })(input(1))).toBe(false);
    expect(compileRouteFilter({ 'body.data.object.tags': { $all: ['a', 'b'] } })(input(1))).toBe(true);
    expect(compileRouteFilter({ $and: [{ provider: 'stripe' }, { 'body.data.object.amount': { $gt: 5 } }] })(input(6))).toBe(true);
    expect(compileRouteFilter({ $or: [{ provider: 'github' }, { 'body.data.object.amount': { $gt: 5 } }] })(input(5))).toBe(false);
    expect(compileRouteFilter({ $nor: [{ provider: 'github' }] })(input(1))).toBe(true);
  });

  it('$type takes JSON type aliases, one or a list (an array matches array and its elements\' types, as in MongoDB)', () => {
    expect(compileRouteFilter({ 'body.data.object.amount': { $type: 'number' } })(input(1))).toBe(true);
    expect(compileRouteFilter({ 'body.data.object': { $type: 'object' } })(input(1))).toBe(true);
    expect(compileRouteFilter({ 'body.data.object.tags': { $type: 'object' } })(input(1))).toBe(false);
    expect(compileRouteFilter({ 'body.data.object.tags': { $type: 'array' } })(input(1))).toBe(true);
    expect(compileRouteFilter({ 'body.data.object.tags': { $type: 'string' } })(input(1))).toBe(true);
    expect(compileRouteFilter({ 'body.data.object.currency': { $type: ['number', 'bool'] } })(input(1))).toBe(false);
    expect(compileRouteFilter({ 'body.data.object.missing': { $type: 'null' } })(input(1))).toBe(false);
  });
});

describe('route transforms (JSONata)', () => {
  const bindings = { id: 'uuid-1', provider: 'stripe', eventType: 'charge.succeeded', headers: { 'user-agent': 'Stripe/1.0' } };

  it('produces the JSON bytes of the result; the event id, provider, type and headers are bound as variables', async () => {
    const transform = compileRouteTransform('{ "id": id, "amount": data.object.amount, "type": $eventType, "event": $id, "ua": $headers."user-agent" }');
    const body = await transform({ id: 'evt_1', data: { object: { amount: 1500 } } }, bindings);
    expect(JSON.parse(body.toString('utf8'))).toEqual({ id: 'evt_1', amount: 1500, type: 'charge.succeeded', event: 'uuid-1', ua: 'Stripe/1.0' });
  });

  it('a failure at run time is a RouteTransformError carrying JSONata code, position and message', async () => {
    const transform = compileRouteTransform('data.object.amount + "x"');
    const failure = await transform({ data: { object: { amount: 1 } } }, bindings).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RouteTransformError);
    expect((failure as Error).message).toBe('JSONata T2002 at 20: The right side of the "+" operator must evaluate to a number');
    const raised = await compileRouteTransform('$error("refund events are not for billing")')({}, bindings).catch((error: unknown) => error);
    expect((raised as Error).message).toBe('JSONata D3137 at 7: refund events are not for billing');
  });

  it('a transform that yields nothing for an event is a failure, not an empty body', async () => {
    const failure = await compileRouteTransform('data.nothing.here')({ data: {} }, bindings).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RouteTransformError);
    expect((failure as Error).message).toMatch(/produced no value/);
  });

  it('a transform that runs away is stopped (JSONata D1012) rather than holding the worker', async () => {
    const failure = await compileRouteTransform('( $f := function($n) { $n > 0 ? $f($n - 1) + $f($n - 1) : 1 }; $f(60) )')({}, bindings).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RouteTransformError);
    expect((failure as Error).message).toMatch(/JSONata (D1012|U1001)/);
  });
});

describe('RouteTable with filters and transforms', () => {
  const table = new RouteTable(
    parse(`
destinations:
  billing: { url: "http://billing.internal/hooks" }
  audit: { url: "http://audit.internal/hooks" }
routes:
  - provider: stripe
    events: ["charge.*"]
    filter: { "body.amount": { "$gte": 1000 } }
    transform: '{ "big": amount }'
    to: [billing]
  - provider: stripe
    to: [billing, audit]
  - provider: github
    to: [audit]
`),
  );

  it('lists each destination once with the routes naming it, in file order (the first whose filter takes the event decides)', () => {
    const routed = table.routedDestinationsFor('stripe', 'charge.succeeded');
    expect(routed.map((r) => [r.destination.name, r.routes.map((route) => route.index)])).toEqual([
      ['billing', [0, 1]],
      ['audit', [1]],
    ]);
    expect(routed[0]!.routes[0]!.filter).toBeDefined();
    expect(routed[0]!.routes[0]!.transform).toBeDefined();
    expect(routed[0]!.routes[1]!.filter).toBeUndefined();
    expect(table.routedDestinationsFor('stripe', 'invoice.paid').map((r) => [r.destination.name, r.routes.map((route) => route.index)])).toEqual([
      ['billing', [1]],
      ['audit', [1]],
    ]);
    expect(table.destinationsFor('github', 'push').map((d) => d.name)).toEqual(['audit']);
  });

  it('refuses, when built directly, a filter or transform that does not compile', () => {
    expect(() => new RouteTable({ destinations: { a: { url: 'http://a' } }, routes: [{ provider: 'x', to: ['a'], filter: { $nope: 1 } }] })).toThrow(/Unsupported operation/);
    expect(() => new RouteTable({ destinations: { a: { url: 'http://a' } }, routes: [{ provider: 'x', to: ['a'], transform: '(' }] })).toThrow(/JSONata/);
  });
});

describe('address templates', () => {
  it('fills in {provider} and {eventType}', () => {
    expect(renderAddress('{provider}.{eventType}', { provider: 'stripe', eventType: 'invoice.paid' })).toBe('stripe.invoice.paid');
    expect(renderAddress('webhooks.{provider}.{eventType}.v1', { provider: 'github', eventType: 'issues.opened' })).toBe('webhooks.github.issues.opened.v1');
  });

  it('tells why a filled-in subject cannot be published to', () => {
    expect(natsSubjectProblem('webhooks.stripe.invoice.paid')).toBeUndefined();
    expect(natsSubjectProblem('webhooks.stripe.invoice paid')).toBe('contains whitespace');
    expect(natsSubjectProblem('webhooks.stripe.')).toMatch(/empty token/);
    expect(natsSubjectProblem('webhooks.*.x')).toMatch(/wildcard/);
  });

  it('refuses subjects NATS reserves: a `$` root (its APIs: $JS.API, $SYS, $KV, …) or `_INBOX` (replies)', () => {
    for (const subject of ['$JS.API.STREAM.PURGE.ORDERS', '$SYS.REQ.SERVER.PING', '$KV.bucket.key', '$O.store.x', '_INBOX.abc', '$']) {
      expect(natsSubjectProblem(subject)).toMatch(/which NATS reserves/);
    }
    // Only the root is reserved: an event type further down the subject is the stream's to capture.
    expect(natsSubjectProblem('webhooks.$JS.API.STREAM.PURGE.ORDERS')).toBeUndefined();
    expect(natsSubjectProblem('webhooks._INBOX.x')).toBeUndefined();
    expect(natsSubjectProblem('_INBOXES.x')).toBeUndefined();
  });

  it('a subject template must start with a literal token', () => {
    expect(natsSubjectTemplateProblem('webhooks.{provider}.{eventType}')).toBeUndefined();
    expect(natsSubjectTemplateProblem('webhooks')).toBeUndefined();
    for (const template of ['{eventType}', '{provider}.{eventType}', 'x{eventType}.y', '{provider}']) expect(natsSubjectTemplateProblem(template)).toMatch(/must start with a literal token/);
  });

  it('README-style templates stay valid', () => {
    expect(() => parse(stream('webhooks.{provider}.{eventType}'))).not.toThrow();
    expect(() => parse(stream('events.stripe.{eventType}.v1'))).not.toThrow();
  });
});
