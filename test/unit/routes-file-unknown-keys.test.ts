/**
 * ROUTES_FILE takes only the keys it declares, as PROVIDERS_FILE does: a misspelt or misplaced key would otherwise
 * be ignored, and the service would route or protect differently than written while starting fine.
 */
import { describe, expect, it } from '@jest/globals';
import { loadRoutesFile, parseRoutes } from '../../services/worker/routing/routes-file.js';
import { writeRoutesFile } from '../support/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';
const parse = (text: string) => parseRoutes(text, SOURCE);

const ROUTE_KEYS = 'provider, events, filter, transform, to';
const HTTP_KEYS = 'type, url, secret, timeoutMs, maxConcurrency, headers, rateLimit, circuitBreaker';

const withRoute = (lines: string) => `destinations:\n  billing:\n    url: http://billing.internal/hooks\nroutes:\n  - provider: stripe\n    to: [billing]\n${lines}`;
const withDestination = (lines: string) => `destinations:\n  billing:\n    url: http://billing.internal/hooks\n${lines}routes:\n  - provider: stripe\n    to: [billing]\n`;

describe('ROUTES_FILE unknown keys', () => {
  it.each([
    ['a route with `fliter:`', withRoute('    fliter: { eventType: invoice.paid }\n'), `routes.0: unknown key "fliter" (a route takes ${ROUTE_KEYS})`],
    ['a route with `event:`', withRoute('    event: ["invoice.*"]\n'), `routes.0: unknown key "event" (a route takes ${ROUTE_KEYS})`],
    ['a route with two', withRoute('    event: ["invoice.*"]\n    transfrom: "id"\n'), `routes.0: unknown keys "event", "transfrom" (a route takes ${ROUTE_KEYS})`],
    ['a destination with `circuitbreaker:`', withDestination('    circuitbreaker: true\n'), `destination "billing": unknown key "circuitbreaker" (an http destination takes ${HTTP_KEYS})`],
    ['a destination with `ratelimit:`', withDestination('    ratelimit: { perSecond: 5 }\n'), `destination "billing": unknown key "ratelimit" (an http destination takes ${HTTP_KEYS})`],
    ['an http destination with a broker key', withDestination('    exchange: webhooks\n'), `destination "billing": unknown key "exchange" (an http destination takes ${HTTP_KEYS})`],
    ['a rateLimit with `burst:`', withDestination('    rateLimit: { perSecond: 5, burst: 10 }\n'), 'destination "billing": rateLimit: unknown key "burst" (rateLimit takes perSecond)'],
    ['defaults with `circuitbreaker:`', `defaults:\n  circuitbreaker: true\n${withRoute('')}`, 'defaults: unknown key "circuitbreaker" (defaults takes circuitBreaker)'],
    ['the file with `route:`', `destinations: {}\nroute: []\n`, '(root): unknown key "route" (a routes file takes defaults, destinations, routes)'],
  ])('refuses %s, naming the file, the key and where it is', (_name, text, expected) => {
    expect(() => parse(text)).toThrow(`${SOURCE}: ${expected}`);
  });

  it('names a broker destination by its type', () => {
    const amqp = `destinations:\n  bus:\n    type: amqp\n    url: amqp://rabbitmq:5672\n    exchange: webhooks\n    routingKey: "{provider}"\n    subject: "webhooks.{provider}"\nroutes: []\n`;
    expect(() => parse(amqp)).toThrow(`${SOURCE}: destination "bus": unknown key "subject" (an amqp destination takes type, url, exchange, routingKey, `);
    const nats = `destinations:\n  stream:\n    type: nats\n    url: nats://nats:4222\n    subject: "webhooks.{provider}"\n    routingkey: x\nroutes: []\n`;
    expect(() => parse(nats)).toThrow(`${SOURCE}: destination "stream": unknown key "routingkey" (a nats destination takes type, url, subject, `);
  });

  it('stops loading the file with one line naming the file path', () => {
    const file = writeRoutesFile({ destinations: { billing: { url: 'http://billing.internal/hooks' } }, routes: [{ provider: 'stripe', to: ['billing'], fliter: {} } as never] });
    try {
      expect(() => loadRoutesFile(file.path)).toThrow(`ROUTES_FILE ${file.path}: routes.0: unknown key "fliter"`);
      expect(() => loadRoutesFile(file.path)).toThrow(/^[^\n]+$/);
    } finally {
      file.remove();
    }
  });

  it('still takes every key the format documents', () => {
    const everything = `defaults:
  circuitBreaker: true
destinations:
  billing:
    type: http
    url: http://billing.internal/hooks
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
    timeoutMs: 10000
    maxConcurrency: 8
    headers: { x-api-key: k }
    rateLimit: { perSecond: 50 }
    circuitBreaker: { failureThreshold: 5, cooldownMs: 30000 }
  bus:
    type: amqp
    url: amqp://user:pass@rabbitmq:5672
    exchange: webhooks
    routingKey: "{provider}.{eventType}"
    timeoutMs: 5000
    circuitBreaker: false
  stream:
    type: nats
    url: nats://nats:4222
    subject: "webhooks.{provider}.{eventType}"
    headers: { x-team: payments }
routes:
  - provider: stripe
    events: ["charge.*"]
    filter: { "body.data.object.amount": { "$gte": 1000 } }
    transform: '{ "id": id }'
    to: [billing, bus, stream]
`;
    const file = parse(everything);
    expect(Object.keys(file.destinations)).toEqual(['billing', 'bus', 'stream']);
    expect(file.routes[0]).toMatchObject({ provider: 'stripe', events: ['charge.*'], to: ['billing', 'bus', 'stream'] });
  });
});
