/**
 * Several custom providers of the same kind that differ only in their secrets (one per shop, per region) are what
 * YAML anchors and merge keys are for, and what other YAML readers (Helm's, docker compose's) resolve. The loader reads
 * YAML 1.2 without merge keys: `<<: *shop` stays a literal key named "<<", and the error then names the wrong
 * problem, that `type` is missing or wrong ("providers.shop-us.type: 'type' must be 'standard-webhooks' or 'hmac'"),
 * although the merged mapping holds `type: hmac`. Either the merge is resolved, or the one-line error names `<<`
 * (merge keys are not supported), so an operator knows what to change.
 */
import { describe, expect, it } from '@jest/globals';
import { parseProvidersFile } from '../../../services/ingress/verification/providers-file.js';

const FILE = `
providers:
  shop-eu: &shop
    type: hmac
    header: X-Shopify-Hmac-Sha256
    algorithm: sha256
    encoding: base64
    secrets: [shpss_eu_secret]
    idHeader: X-Shopify-Webhook-Id
    typeHeader: X-Shopify-Topic
  shop-us:
    <<: *shop
    secrets: [shpss_us_secret]
`;

describe('PROVIDERS_FILE with a YAML merge key', () => {
  it('resolves the merge, or says that merge keys are not supported (not that `type` is wrong)', () => {
    let outcome: string;
    try {
      const shopUs = parseProvidersFile(FILE, '/etc/webhooks/providers.yaml').find((d) => d.name === 'shop-us');
      outcome = `loaded: ${JSON.stringify(shopUs)}`;
    } catch (error) {
      outcome = `refused: ${(error as Error).message}`;
    }
    // Today: "refused: Invalid PROVIDERS_FILE /etc/webhooks/providers.yaml: providers.shop-us.type: 'type' must be
    // 'standard-webhooks' or 'hmac'".
    expect(outcome).not.toMatch(/providers\.shop-us\.type: 'type' must be/);
    expect(outcome).toMatch(/^loaded: .*"type":"hmac".*"secrets":\["shpss_us_secret"\]|^refused: .*<</);
  });
});
