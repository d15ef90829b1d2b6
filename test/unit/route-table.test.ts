import { describe, expect, it } from '@jest/globals';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const table = new RouteTable(
  parseRoutes(`
destinations:
  billing: { url: "http://billing.internal/hooks", secret: whsec_dGVzdA==, timeoutMs: 500 }
  audit: { url: "http://audit.internal/hooks" }
  charges: { url: "https://charges.internal/hooks" }
  repos: { url: "http://repos.internal/hooks" }
routes:
  - provider: stripe
    events: ["invoice.*", "charge.succeeded"]
    to: [billing]
  - provider: stripe
    events: ["charge.*"]
    to: [charges, billing]
  - provider: github
    events: ["issues.*", "pull_request.{opened,closed}"]
    to: [repos]
  - provider: "*"
    to: [audit]
`),
);

const names = (provider: string, eventType: string) => table.destinationsFor(provider, eventType).map((d) => d.name);

describe('RouteTable', () => {
  it('matches a one-segment glob (invoice.*) and literal types', () => {
    expect(names('stripe', 'invoice.paid')).toEqual(['billing', 'audit']);
    expect(names('stripe', 'invoice.payment_failed')).toEqual(['billing', 'audit']);
    // '.' is no separator: a glob covers nested types too (customer.* → customer.subscription.created).
    expect(names('stripe', 'invoice.payment.failed')).toEqual(['billing', 'audit']);
    expect(names('stripe', 'charge.succeeded')).toEqual(['billing', 'charges', 'audit']);
  });

  it("'/' is no separator either: * matches Shopify-style types (orders/create) as it does dotted ones", () => {
    const shop = new RouteTable(
      parseRoutes(`
destinations:
  all: { url: "http://all.internal/hooks" }
  orders: { url: "http://orders.internal/hooks" }
  exact: { url: "http://exact.internal/hooks" }
routes:
  - { provider: shop, events: ["*"], to: [all] }
  - { provider: shop, events: ["orders*"], to: [orders] }
  - { provider: shop, events: ["app/uninstalled"], to: [exact] }
`),
    );
    const to = (eventType: string) => shop.destinationsFor('shop', eventType).map((d) => d.name);
    expect(to('orders/create')).toEqual(['all', 'orders']);
    expect(to('app/uninstalled')).toEqual(['all', 'exact']);
    expect(to('app/installed')).toEqual(['all']);
  });

  it('does not match a glob by prefix or suffix alone', () => {
    expect(names('stripe', 'invoice')).toEqual(['audit']);
    expect(names('stripe', 'invoices.paid')).toEqual(['audit']);
    expect(names('stripe', 'xinvoice.paid')).toEqual(['audit']);
    expect(names('stripe', 'customer.created')).toEqual(['audit']);
  });

  it('is case-sensitive', () => {
    expect(names('stripe', 'Invoice.paid')).toEqual(['audit']);
    expect(names('stripe', 'charge.SUCCEEDED')).toEqual(['charges', 'billing', 'audit']);
  });

  it('filters by provider, and "*" matches every provider', () => {
    expect(names('github', 'invoice.paid')).toEqual(['audit']);
    expect(names('paypal', 'charge.succeeded')).toEqual(['audit']);
    expect(names('github', 'issues.opened')).toEqual(['repos', 'audit']);
  });

  it('supports brace alternatives', () => {
    expect(names('github', 'pull_request.opened')).toEqual(['repos', 'audit']);
    expect(names('github', 'pull_request.closed')).toEqual(['repos', 'audit']);
    expect(names('github', 'pull_request.edited')).toEqual(['audit']);
  });

  it('lists each destination once, in first-match order, with its configuration', () => {
    const [billing] = table.destinationsFor('stripe', 'charge.succeeded');
    // `policy`: its protection resolved (no rate limit, no breaker here).
    expect(billing).toEqual({ name: 'billing', url: 'http://billing.internal/hooks', secret: 'whsec_dGVzdA==', timeoutMs: 500, policy: {} });
  });

  it('returns nothing when no route matches, or when there are no routes at all', () => {
    const narrow = new RouteTable(parseRoutes('destinations: { a: { url: "http://a" } }\nroutes: [{ provider: stripe, events: ["x.*"], to: [a] }]'));
    expect(narrow.destinationsFor('stripe', 'y.z')).toEqual([]);
    expect(narrow.destinationsFor('github', 'x.y')).toEqual([]);
    expect(new RouteTable().destinationsFor('stripe', 'invoice.paid')).toEqual([]);
  });

  it('a route without events matches every type of its provider', () => {
    const all = new RouteTable(parseRoutes('destinations: { a: { url: "http://a" } }\nroutes: [{ provider: stripe, to: [a] }]'));
    expect(all.destinationsFor('stripe', 'anything.at.all')).toHaveLength(1);
    expect(all.destinationsFor('stripe', '')).toHaveLength(1);
    expect(all.destinationsFor('github', 'anything')).toHaveLength(0);
  });

  it('refuses a route to an unknown destination, naming the path', () => {
    expect(() => parseRoutes('destinations: {}\nroutes: [{ provider: stripe, to: [nowhere] }]')).toThrow(/routes\.0\.to\.0: unknown destination "nowhere"/);
  });
});
