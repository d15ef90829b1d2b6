/**
 * A route filter reads `headers` as the ingress kept them with the event: a fixed list of request headers
 * (KEPT_REQUEST_HEADERS), lower-case, plus an `hmac` provider's idHeader / typeHeader. ROUTES_FILE refuses a filter
 * path naming any other header, which would match no event; these cases pin what is refused and what is not.
 */
import { describe, expect, it } from '@jest/globals';
import { parseProvidersFile, providerKeptHeaders } from '../../services/ingress/verification/providers-file.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const routes = (provider: string, filter: Record<string, unknown>) =>
  JSON.stringify({ destinations: { billing: { url: 'http://billing.internal/hooks' } }, routes: [{ provider: 'stripe', to: ['billing'] }, { provider, filter, to: ['billing'] }] });

const shopify = providerKeptHeaders(
  parseProvidersFile(
    'providers:\n  shopify:\n    type: hmac\n    header: X-Shopify-Hmac-Sha256\n    algorithm: sha256\n    encoding: base64\n    secrets: [s3cret-value-1234]\n    idHeader: X-Shopify-Webhook-Id\n    typeHeader: X-Shopify-Topic\n',
    'providers.yaml',
  ),
);

describe('ROUTES_FILE: a filter on request headers', () => {
  it('takes kept headers, at the top level and inside $and / $or / $nor', () => {
    expect(() => parseRoutes(routes('stripe', { 'headers.user-agent': { $regex: '^Stripe/' } }))).not.toThrow();
    expect(() => parseRoutes(routes('github', { $or: [{ 'headers.x-github-event': 'push' }, { $and: [{ 'headers.x-request-id': { $exists: true } }] }] }))).not.toThrow();
  });

  it('refuses a header the ingress never keeps, naming routes.N.filter and listing the kept headers', () => {
    expect(() => parseRoutes(routes('stripe', { 'headers.x-tenant': 'acme' }))).toThrow(
      /^ROUTES_FILE: routes\.1\.filter: "headers\.x-tenant": the ingress does not keep the request header "x-tenant" with the event, so the filter would never see it; filters can read user-agent, content-type, .*x-request-id/,
    );
    expect(() => parseRoutes(routes('stripe', { $nor: [{ 'headers.stripe-signature': { $exists: true } }] }))).toThrow(/routes\.1\.filter: "headers\.stripe-signature"/);
  });

  it('refuses a header the ingress never keeps inside a query-level $not too (it took every event, excluding none)', () => {
    // sift reads a top-level `$not` as the negation of the query it holds: `{ $not: { "headers.x-tenant": "internal" } }`
    // was accepted, and as no event carries x-tenant, it took every event, the internal ones included.
    expect(() => parseRoutes(routes('stripe', { $not: { 'headers.x-tenant': 'internal' } }))).toThrow(/^ROUTES_FILE: routes\.1\.filter: "headers\.x-tenant": the ingress does not keep/);
    expect(() => parseRoutes(routes('stripe', { $and: [{ $not: { $or: [{ 'headers.X-Request-Id': 'a' }] } }] }))).toThrow(/routes\.1\.filter: "headers\.X-Request-Id": header names are kept lower-case/);
    expect(() => parseRoutes(routes('stripe', { $not: { 'headers.user-agent': { $regex: '^Stripe/' } } }))).not.toThrow();
  });

  it('refuses a header name that is not lower-case (kept names are), saying how to write it', () => {
    expect(() => parseRoutes(routes('stripe', { 'headers.User-Agent': 'Stripe/1.0' }))).toThrow(
      /^ROUTES_FILE: routes\.1\.filter: "headers\.User-Agent": header names are kept lower-case.*"headers\.user-agent"/,
    );
  });

  it("takes an hmac provider's idHeader / typeHeader in its own routes and in '*' routes, not in another provider's", () => {
    expect(shopify).toEqual({ shopify: ['x-shopify-webhook-id', 'x-shopify-topic'] });
    const context = { providerHeaders: shopify };
    expect(() => parseRoutes(routes('shopify', { 'headers.x-shopify-topic': 'orders/create' }), 'ROUTES_FILE', context)).not.toThrow();
    expect(() => parseRoutes(routes('*', { 'headers.x-shopify-webhook-id': { $exists: true } }), 'ROUTES_FILE', context)).not.toThrow();
    expect(() => parseRoutes(routes('stripe', { 'headers.x-shopify-topic': 'orders/create' }), 'ROUTES_FILE', context)).toThrow(/routes\.1\.filter: "headers\.x-shopify-topic"/);
    expect(() => parseRoutes(routes('shopify', { 'headers.x-shopify-topic': 'orders/create' }))).toThrow(/from PROVIDERS_FILE/);
  });
});
