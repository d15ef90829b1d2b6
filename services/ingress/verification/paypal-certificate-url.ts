/** Which PAYPAL-CERT-URL values may be fetched: https, allowed hosts and ports, PayPal's certificate path, no query. */
import { isIP } from 'node:net';
import { stripBrackets, type HostRule } from '../../shared/config/paypal-cert-hosts.js';
import { WebhookVerificationError } from './verification-errors.js';

// The allowlist's parser lives in shared (config validation reads PAYPAL_CERT_HOSTS with it too); re-exported so the
// verifier takes the allowlist and the URL check from one module.
export { parseCertHosts, type HostRule } from '../../shared/config/paypal-cert-hosts.js';

/** Where PayPal serves its signing certificates (live and sandbox, classic and `api-m` hosts). */
const DEFAULT_CERT_HOSTS: ReadonlySet<string> = new Set(['api.paypal.com', 'api-m.paypal.com', 'api.sandbox.paypal.com', 'api-m.sandbox.paypal.com']);
/**
 * PayPal's certificate endpoint, `/v1/notifications/certs/CERT-<hex>-<hex>-<hex>` (e.g. `CERT-360caa42-fca2a594-
 * 1d93a270`, live and sandbox alike). Anything else on PayPal's API hosts is no certificate: refusing it without a
 * request keeps a forger's made-up paths from costing a download and a request to PayPal each. Lenient about the
 * groups' number and length (2 to 8, 1 to 64 hex digits, either case) so a change in PayPal's id format does not
 * refuse its events; PAYPAL_CERT_HOSTS (any path) remains for anything else.
 */
const DEFAULT_CERT_PATH = /^\/v1\/notifications\/certs\/CERT-[0-9A-Fa-f]{1,64}(?:-[0-9A-Fa-f]{1,64}){1,7}$/;

/** A CERTIFICATE_REJECTED error: the client sees only the generic message; the reason is its `cause`, for logs. */
export function rejectCertificate(message: string, cause?: unknown): WebhookVerificationError {
  // The client only ever sees the generic message; the reason goes to `cause` for the logs.
  return new WebhookVerificationError('CERTIFICATE_REJECTED', undefined, {
    cause: cause === undefined ? new Error(message) : new Error(message, { cause }),
  });
}

/**
 * Validates PAYPAL-CERT-URL: https, no userinfo, no query string, host (and port) allowed by `rule`, IP literals
 * only when listed exactly. Without an allowlist, only PayPal's certificate endpoints are accepted (the API hosts
 * on port 443 and the `/v1/notifications/certs/<id>` path). Returns the URL to fetch (without fragment; its href is
 * also the cache key, which a client therefore cannot vary) or throws CERTIFICATE_REJECTED.
 */
export function checkCertificateUrl(value: string, rule: HostRule): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw rejectCertificate('certificate URL is not a valid URL', error);
  }
  if (url.protocol !== 'https:') throw rejectCertificate('certificate URL must use https');
  if (url.username !== '' || url.password !== '') throw rejectCertificate('certificate URL must not carry userinfo');
  // PayPal's certificate URLs carry no query; one would only make a new cache entry (and a new download) per request.
  if (url.search !== '') throw rejectCertificate('certificate URL must not carry a query string');
  const port = url.port === '' ? '443' : url.port;
  const host = url.hostname;
  // Canonical: no fragment, no empty `?`; its href is the cache key.
  url = new URL(`${url.origin}${url.pathname}`);
  if (rule.exact.size === 0 && rule.suffixes.length === 0) {
    if (!DEFAULT_CERT_HOSTS.has(host) || port !== '443') throw rejectCertificate('certificate host is not a PayPal API host');
    if (!DEFAULT_CERT_PATH.test(url.pathname)) throw rejectCertificate('certificate URL is not a PayPal certificate endpoint');
    return url;
  }
  if (rule.exact.has(`${host}:${port}`)) return url;
  if (isIP(stripBrackets(host)) === 0) {
    for (const { suffix, port: allowedPort } of rule.suffixes) {
      if (port === allowedPort && host.endsWith(suffix)) return url;
    }
  }
  throw rejectCertificate('certificate host is not in the allowlist');
}
