import { basicCredentialOf } from '../../shared/http/basic-credentials.js';

/** A destination URL's user or password that is not valid percent-encoding, so it cannot be sent as Basic auth. */
export class UrlCredentialsError extends Error {
  readonly code = 'URL_CREDENTIALS_INVALID';
  constructor() {
    // Never names the URL: its password is a secret.
    super('the user or password in the URL is not valid percent-encoding');
    this.name = 'UrlCredentialsError';
  }
}

/** Where an HTTP destination's requests go: its URL without user and password, and those as an Authorization value. */
export interface HttpTarget {
  url: string;
  /** `Basic base64(user:password)`, when the URL had a user or password. */
  authorization?: string;
}

/**
 * Splits an HTTP destination URL (`https://user:pass@host/hook`) into the URL requested and HTTP Basic credentials,
 * percent-decoded, as curl and most webhook senders take such a URL: undici ignores a URL's userinfo, so the
 * destination saw anonymous requests, answered 401 on every attempt, and the event was dead-lettered.
 *
 * @throws {UrlCredentialsError} when the user or password is not valid percent-encoding.
 */
export function httpTargetOf(url: string): HttpTarget {
  const parsed = new URL(url);
  let credential: string | undefined;
  try {
    credential = basicCredentialOf(parsed);
  } catch {
    throw new UrlCredentialsError();
  }
  if (credential === undefined) return { url };
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), authorization: `Basic ${credential}` };
}
