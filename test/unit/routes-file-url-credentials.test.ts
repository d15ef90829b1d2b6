/**
 * An http destination's URL credentials are sent as HTTP Basic auth (README, Destinations): the routes file refuses
 * credentials that cannot be decoded, and a static Authorization header next to them, whichever its case, instead of
 * letting one silently replace the other. Neither message echoes the password.
 */
import { describe, expect, it } from '@jest/globals';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';
const destination = (url: string, lines = '') => `destinations:\n  billing:\n    url: ${url}\n${lines}routes: []\n`;

describe('ROUTES_FILE http destination URL credentials', () => {
  it('refuses a static Authorization header next to them, naming the header', () => {
    const text = destination('https://hooks:s3cret@billing.internal/hook', '    headers:\n      authorization: Bearer abc\n');
    expect(() => parseRoutes(text, SOURCE)).toThrow(
      `${SOURCE}: destination "billing": headers.authorization: conflicts with the user and password in url (sent as Basic auth): set one or the other`,
    );
  });

  it('refuses a password that is not valid percent-encoding, without echoing it', () => {
    let message = '';
    try {
      parseRoutes(destination('https://hooks:s3cret%zz@billing.internal/hook'), SOURCE);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(`${SOURCE}: destination "billing": url: the user or password in the URL is not valid percent-encoding`);
  });

  it('takes an Authorization header without URL credentials, and URL credentials alone', () => {
    expect(() => parseRoutes(destination('https://billing.internal/hook', '    headers:\n      Authorization: Bearer abc\n'), SOURCE)).not.toThrow();
    expect(() => parseRoutes(destination('https://hooks:p%40ss@billing.internal/hook'), SOURCE)).not.toThrow();
  });
});
