/**
 * True for an error of a Redis connection itself (Redis unreachable, reset, gone), which ioredis retries on its own:
 * the worker logs these as one outage (a first line, then a count a minute) instead of a line per reconnect.
 * EADDRNOTAVAIL is the kernel finding no source address for the connect (REDIS_URL naming `::1` on a host whose IPv6 is
 * off, an address this pod's network does not have yet): the network's failure, as ENETUNREACH is.
 */
const CONNECTION_ERROR = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL|EPIPE|Connection is closed/;

export function isRedisConnectionError(error: Error): boolean {
  return CONNECTION_ERROR.test(`${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}`);
}
