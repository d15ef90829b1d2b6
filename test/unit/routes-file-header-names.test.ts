/**
 * A destination's static headers are sent under names HTTP (and the receivers of broker headers) compare
 * case-insensitively: two entries naming one header would send it twice, so the routes file refuses them.
 */
import { describe, expect, it } from '@jest/globals';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';
const withHeaders = (lines: string) => `destinations:\n  billing:\n    url: http://billing.internal/hooks\n    headers:\n${lines}routes: []\n`;

describe('ROUTES_FILE static header names', () => {
  it('refuses two headers whose names differ only in case, naming the destination and both names', () => {
    expect(() => parseRoutes(withHeaders('      x-api-key: a\n      X-Api-Key: b\n'), SOURCE)).toThrow(
      `${SOURCE}: destination "billing": headers.X-Api-Key: names the same header as "x-api-key" (header names are case-insensitive)`,
    );
  });

  it('takes distinct names in any case', () => {
    expect(parseRoutes(withHeaders('      X-Api-Key: a\n      X-Tenant: b\n'), SOURCE).destinations.billing?.headers).toEqual({ 'X-Api-Key': 'a', 'X-Tenant': 'b' });
  });
});
