import { describe, expect, it } from '@jest/globals';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const withSecret = (secret: string) =>
  parseRoutes(`destinations:\n  billing:\n    url: http://billing.internal/hooks\n    secret: ${JSON.stringify(secret)}\nroutes: []\n`, 'ROUTES_FILE /etc/routes.yaml');

describe('ROUTES_FILE destination secrets', () => {
  it('accepts what the Standard Webhooks signer reads: padded base64, with or without whsec_', () => {
    expect(withSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw').destinations.billing!.secret).toBe('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    expect(withSecret('dGVzdA==').destinations.billing!.secret).toBe('dGVzdA==');
  });

  it('refuses a secret the signer cannot decode, naming the file, the destination and the rule, never the secret', () => {
    // Each with the part that must not be echoed (the bare prefix `whsec_` is named by the rule itself).
    for (const [bad, secretPart] of [
      ['whsec_this-is-not-base64', 'this-is-not-base64'],
      ['plain text secret', 'plain text secret'],
      ['whsec_dGVzdA', 'dGVzdA'],
      ['whsec_', undefined],
    ] as const) {
      let message = '';
      try {
        withSecret(bad);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^ROUTES_FILE \/etc\/routes\.yaml: destination "billing": secret: .*must be base64/);
      if (secretPart) expect(message).not.toContain(secretPart);
      expect(message.split('\n')).toHaveLength(1);
    }
  });
});
