import { describe, expect, it } from '@jest/globals';
import { DEFAULT_CIRCUIT_BREAKER, destinationPolicy } from '../../services/shared/destinations/destination-policy.js';
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../services/worker/delivery/delivery-result.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';
const parse = (text: string) => parseRoutes(text, SOURCE);

describe('ROUTES_FILE rateLimit and circuitBreaker', () => {
  it('takes a rate limit and a breaker per destination; a breaker is off unless configured', () => {
    const file = parse(`
destinations:
  billing:
    url: http://billing.internal/hooks
    rateLimit: { perSecond: 50 }
    circuitBreaker: { failureThreshold: 5, cooldownMs: 30000 }
  crm:
    url: http://crm.internal/hooks
    circuitBreaker: true
  partial:
    url: http://partial.internal/hooks
    circuitBreaker: { cooldownMs: 5000 }
  plain:
    url: http://plain.internal/hooks
routes:
  - { provider: stripe, to: [billing, crm, partial, plain] }
`);
    expect(destinationPolicy(file, 'billing')).toEqual({ rateLimit: { perSecond: 50 }, circuitBreaker: { failureThreshold: 5, cooldownMs: 30_000 } });
    expect(destinationPolicy(file, 'crm')).toEqual({ circuitBreaker: DEFAULT_CIRCUIT_BREAKER });
    expect(destinationPolicy(file, 'partial')).toEqual({ circuitBreaker: { failureThreshold: DEFAULT_CIRCUIT_BREAKER.failureThreshold, cooldownMs: 5000 } });
    // Without a breaker: every failed attempt counts, then DEAD_LETTER, as before.
    expect(destinationPolicy(file, 'plain')).toEqual({});
    const table = new RouteTable(file);
    expect(table.allDestinations().map((d) => [d.name, d.policy])).toEqual([
      ['billing', { rateLimit: { perSecond: 50 }, circuitBreaker: { failureThreshold: 5, cooldownMs: 30_000 } }],
      ['crm', { circuitBreaker: DEFAULT_CIRCUIT_BREAKER }],
      ['partial', { circuitBreaker: { failureThreshold: 5, cooldownMs: 5000 } }],
      ['plain', {}],
    ]);
  });

  it('defaults.circuitBreaker turns a breaker on for every destination; a destination may opt out or set its own', () => {
    const file = parse(`
defaults:
  circuitBreaker: true
destinations:
  a: { url: "http://a.internal/hooks" }
  b: { url: "http://b.internal/hooks", circuitBreaker: false }
  c: { url: "http://c.internal/hooks", circuitBreaker: { failureThreshold: 2 } }
routes: []
`);
    expect(destinationPolicy(file, 'a')).toEqual({ circuitBreaker: DEFAULT_CIRCUIT_BREAKER });
    expect(destinationPolicy(file, 'b')).toEqual({});
    expect(destinationPolicy(file, 'c')).toEqual({ circuitBreaker: { failureThreshold: 2, cooldownMs: DEFAULT_CIRCUIT_BREAKER.cooldownMs } });
    expect(DEFAULT_CIRCUIT_BREAKER).toEqual({ failureThreshold: 5, cooldownMs: 30_000 });
  });

  it.each([
    ['rateLimit: { perSecond: 0 }', 'destination "x": rateLimit.perSecond: Too small'],
    ['rateLimit: { perSecond: 2.5 }', 'destination "x": rateLimit.perSecond: Invalid input: expected int'],
    ['rateLimit: { perMinute: 5 }', 'destination "x": rateLimit'],
    ['rateLimit: 50', 'destination "x": rateLimit: Invalid input'],
    ['circuitBreaker: { failureThreshold: 0 }', 'destination "x": circuitBreaker'],
    ['circuitBreaker: { cooldownMs: 10 }', 'destination "x": circuitBreaker'],
    ['circuitBreaker: { threshold: 5 }', 'destination "x": circuitBreaker'],
    ['circuitBreaker: "yes"', 'destination "x": circuitBreaker: must be true, false or { failureThreshold, cooldownMs }'],
  ])('refuses %s with one line naming the file, the destination and the field', (line, message) => {
    expect(() => parse(`destinations:\n  x:\n    url: http://x.internal/hooks\n    ${line}\nroutes: []\n`)).toThrow(`${SOURCE}: ${message}`);
  });

  it('refuses an unknown key under defaults', () => {
    expect(() => parse(`defaults:\n  rateLimit: { perSecond: 5 }\ndestinations: {}\nroutes: []\n`)).toThrow(`${SOURCE}: defaults:`);
  });
});

describe('the README example (handed over for README.md, which the docs test then reads as written)', () => {
  const README_EXAMPLE = `defaults:
  circuitBreaker: true                                         # a breaker on every destination: 5 failures, 30 s cooldown
destinations:
  billing:
    url: http://billing.internal/hooks
    rateLimit: { perSecond: 50 }                               # at most 50 sends in any rolling second, all workers together
    circuitBreaker: { failureThreshold: 3, cooldownMs: 10000 } # its own settings instead of the defaults
  audit:
    url: http://audit.internal/hooks
    circuitBreaker: false                                      # no breaker: every failed attempt counts, then DEAD_LETTER
routes:
  - provider: stripe
    to: [billing, audit]
`;
  it('parses, and gives each destination the policy its comments say', () => {
    const table = new RouteTable(parse(README_EXAMPLE));
    expect(Object.fromEntries(table.allDestinations().map((d) => [d.name, d.policy]))).toEqual({
      billing: { rateLimit: { perSecond: 50 }, circuitBreaker: { failureThreshold: 3, cooldownMs: 10_000 } },
      audit: {},
    });
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  it('reads delay-seconds and HTTP-dates, as ms from now', () => {
    expect(parseRetryAfter('5', now)).toBe(5000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Mon, 30 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 30 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(['7', '9'], now)).toBe(7000);
  });
  it('is bounded at one hour and ignores what it cannot read', () => {
    expect(MAX_RETRY_AFTER_MS).toBe(3_600_000);
    expect(parseRetryAfter('86400', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('Tue, 01 Dec 2026 12:00:00 GMT', now)).toBe(MAX_RETRY_AFTER_MS);
    for (const value of [undefined, '', 'soon', '-5', '1.5']) expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
