/**
 * True for an error of a Redis connection itself (Redis unreachable, reset, gone), which ioredis retries on its own:
 * the worker logs these as one outage (a first line, then a count a minute) instead of a line per reconnect or pass.
 * EADDRNOTAVAIL is the kernel finding no source address for the connect (REDIS_URL naming `::1` on a host whose IPv6 is
 * off, an address this pod's network does not have yet): the network's failure, as ENETUNREACH is.
 * A command of a fail-fast connection (the producer's, the destination state's) fails with ioredis's own wording
 * while the connection is down: "Stream isn't writeable and enableOfflineQueue options is false" when sent meanwhile,
 * MaxRetriesPerRequestError ("Reached the max retries per request limit") when the connection broke under it. Neither
 * carries a code; missed, each reconciler pass of an outage wrote a line of its own.
 */
const CONNECTION_ERROR =
  /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL|EPIPE|Connection is closed|Stream isn't writeable|Reached the max retries per request limit/;

export function isRedisConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, name } = error as { code?: unknown; message?: unknown; name?: unknown };
  return name === 'MaxRetriesPerRequestError' || CONNECTION_ERROR.test(`${typeof code === 'string' ? code : ''} ${typeof message === 'string' ? message : ''}`);
}
