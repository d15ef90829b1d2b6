/**
 * ROUTES_FILE reads YAML merge keys (`<<: *common`) as PROVIDERS_FILE does: destinations that differ only in their
 * URL share one anchored definition, and keys written beside the merge win over the merged ones.
 */
import { describe, expect, it } from '@jest/globals';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';

describe('ROUTES_FILE with YAML merge keys', () => {
  it('resolves a merged destination, keys beside the merge overriding the merged ones', () => {
    const routes = parseRoutes(
      `destinations:
  billing-eu: &billing
    url: http://billing-eu.internal/hooks
    timeoutMs: 7000
    headers:
      X-Tenant: acme
  billing-us:
    <<: *billing
    url: http://billing-us.internal/hooks
routes:
  - provider: stripe
    to: [billing-eu, billing-us]
`,
      SOURCE,
    );
    expect(routes.destinations['billing-us']).toMatchObject({
      url: 'http://billing-us.internal/hooks',
      timeoutMs: 7000,
      headers: { 'X-Tenant': 'acme' },
    });
    expect(routes.destinations['billing-eu']).toMatchObject({ url: 'http://billing-eu.internal/hooks', timeoutMs: 7000 });
  });

  it('still validates what a merge brings in, naming the destination', () => {
    expect(() =>
      parseRoutes(
        `destinations:
  billing-eu: &billing
    url: http://billing-eu.internal/hooks
    timeoutMs: 7000
  billing-us:
    <<: *billing
    timeoutMs: -1
routes: []
`,
        SOURCE,
      ),
    ).toThrow(/^ROUTES_FILE \/etc\/routes\.yaml: destination "billing-us": timeoutMs: /);
  });

  it('refuses a merge of something not a mapping in one line', () => {
    expect(() => parseRoutes(`x: &x 1\ndestinations:\n  billing:\n    <<: *x\n    url: http://b.internal/\nroutes: []\n`, SOURCE)).toThrow(
      /^ROUTES_FILE \/etc\/routes\.yaml: .*[Mm]erge/,
    );
  });
});
