/**
 * The HTTP Basic credential (`base64(user:password)`, percent-decoded as curl and most webhook senders read a URL's
 * userinfo) of a URL with a user or password; undefined without either. One function, because the worker sends it and
 * the log redactor must know the very same value: a destination that echoes the request's Authorization header in
 * its answer would otherwise have the credentials stored, base64 away from plain text, in the attempt's error.
 *
 * @throws {URIError} when the user or password is not valid percent-encoding.
 */
export function basicCredentialOf(url: URL): string | undefined {
  if (!url.username && !url.password) return undefined;
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return Buffer.from(credentials, 'utf8').toString('base64');
}
