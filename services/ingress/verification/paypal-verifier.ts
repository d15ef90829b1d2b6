import { X509Certificate, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import CRC32 from 'crc-32';
import { request, type Dispatcher } from 'undici';
import type { ReplayKey } from './replay-key.js';
import { parseJsonPayload, requireEventId, requireEventType } from './parse-json-payload.js';
import { WebhookVerificationError } from './verification-errors.js';
import { getHeader, type VerifiedWebhook, type WebhookRequest, type WebhookVerifier } from './webhook-request.js';

export interface PaypalVerifierOptions {
  /** The webhook id PayPal assigned to this endpoint (part of the signed message). */
  webhookId: string;
  /**
   * Allowed `host` / `host:port` entries for PAYPAL-CERT-URL (port 443 when omitted; `*.example.com` matches
   * subdomains; IP literals only when listed exactly). Empty: PayPal's certificate endpoints only (see checkCertificateUrl).
   */
  certHosts?: readonly string[];
  /** undici dispatcher for the certificate fetch (tests: an Agent trusting a local CA). */
  dispatcher?: Dispatcher;
  /** When > 0, PAYPAL-TRANSMISSION-TIME must be within this many seconds of now. */
  toleranceSeconds?: number;
  /** Provider name (default 'paypal'). */
  provider?: string;
  /** Certificate fetch timeout (default 5000 ms). */
  fetchTimeoutMs?: number;
  /** Largest certificate response accepted (default 64 KiB). */
  maxCertificateBytes?: number;
  /** Parsed certificates kept (default 100, least recently used evicted). */
  cacheMaxEntries?: number;
  /** Longest a certificate stays cached (default 24 h; never past its validTo). */
  cacheMaxAgeMs?: number;
  /** Distinct certificate URLs fetched at the same time at most (default 16); more are rejected. */
  maxConcurrentFetches?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

export interface PaypalVerifier extends WebhookVerifier {
  /** Drops every cached certificate. */
  clearCertificateCache(): void;
}

interface CachedCertificate {
  publicKey: KeyObject;
  notBefore: number;
  notAfter: number;
  expiresAt: number;
}

const SUPPORTED_ALGORITHM = 'sha256withrsa';
const MAX_HEADER_FIELD_LENGTH = 255;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Where PayPal serves its signing certificates (live and sandbox, classic and `api-m` hosts). */
const DEFAULT_CERT_HOSTS: ReadonlySet<string> = new Set(['api.paypal.com', 'api-m.paypal.com', 'api.sandbox.paypal.com', 'api-m.sandbox.paypal.com']);
/** PayPal's certificate endpoint: `/v1/notifications/certs/CERT-…`. */
const DEFAULT_CERT_PATH = /^\/v1\/notifications\/certs\/[A-Za-z0-9_-]{1,128}$/;

function rejectCertificate(message: string, cause?: unknown): WebhookVerificationError {
  // The client only ever sees the generic message; the reason goes to `cause` for the logs.
  return new WebhookVerificationError('CERTIFICATE_REJECTED', undefined, {
    cause: cause === undefined ? new Error(message) : new Error(message, { cause }),
  });
}

export interface HostRule {
  exact: Set<string>;
  /** `.example.com:443` style suffixes from `*.example.com[:port]` entries. */
  suffixes: { suffix: string; port: string }[];
}

/** Normalises allowlist entries the same way the WHATWG URL parser normalises the incoming cert URL. */
export function parseCertHosts(entries: readonly string[]): HostRule {
  const rule: HostRule = { exact: new Set(), suffixes: [] };
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    const wildcard = entry.startsWith('*.');
    let url: URL;
    try {
      if (/[/?#@\\]/.test(entry)) throw new Error('not a host');
      url = new URL(`https://${wildcard ? entry.slice(2) : entry}`);
    } catch {
      throw new Error(`Invalid PayPal certificate host entry '${entry}' (expected host or host:port)`);
    }
    const port = url.port === '' ? '443' : url.port;
    if (wildcard) {
      if (isIP(stripBrackets(url.hostname)) !== 0) throw new Error(`Invalid PayPal certificate host entry '${entry}'`);
      rule.suffixes.push({ suffix: `.${url.hostname}`, port });
    } else {
      rule.exact.add(`${url.hostname}:${port}`);
    }
  }
  return rule;
}

function stripBrackets(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
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

/** PayPal: RSA-SHA256 over `{transmissionId}|{transmissionTime}|{webhookId}|{crc32(body)}` with the cert at PAYPAL-CERT-URL. */
export function createPaypalVerifier(options: PaypalVerifierOptions): PaypalVerifier {
  const webhookId = options.webhookId.trim();
  if (webhookId === '') throw new Error('PayPal verifier needs a webhook id');
  const hostRule = parseCertHosts(options.certHosts ?? []);
  const dispatcher = options.dispatcher;
  const toleranceMs = (options.toleranceSeconds ?? 0) * 1000;
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 5000;
  const maxCertificateBytes = options.maxCertificateBytes ?? 64 * 1024;
  const cacheMaxEntries = Math.max(1, options.cacheMaxEntries ?? 100);
  const cacheMaxAgeMs = options.cacheMaxAgeMs ?? 24 * 60 * 60 * 1000;
  const maxConcurrentFetches = options.maxConcurrentFetches ?? 16;
  const now = options.now ?? Date.now;

  const cache = new Map<string, CachedCertificate>();
  const inflight = new Map<string, Promise<CachedCertificate>>();

  async function download(url: URL): Promise<Buffer> {
    const { statusCode, headers, body } = await request(url, {
      method: 'GET',
      dispatcher,
      signal: AbortSignal.timeout(fetchTimeoutMs),
      headersTimeout: fetchTimeoutMs,
      bodyTimeout: fetchTimeoutMs,
      headers: { accept: 'application/x-pem-file, application/x-x509-ca-cert, text/plain, */*' },
    });
    try {
      // undici's request never follows redirects: a 3xx lands here and is refused like any non-200.
      if (statusCode !== 200) throw new Error(`certificate URL answered HTTP ${statusCode}`);
      const declared = Number(headers['content-length']);
      if (declared > maxCertificateBytes) throw new Error('certificate response too large');
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxCertificateBytes) throw new Error('certificate response too large');
        chunks.push(chunk);
      }
      return Buffer.concat(chunks, size);
    } finally {
      if (!body.destroyed) {
        body.on('error', ignore); // destroying an unread undici body emits an abort error
        body.destroy();
      }
    }
  }

  async function load(url: URL): Promise<CachedCertificate> {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(await download(url));
    } catch (error) {
      throw rejectCertificate('certificate could not be fetched or parsed', error);
    }
    const publicKey = certificate.publicKey;
    if (publicKey.asymmetricKeyType !== 'rsa') throw rejectCertificate('certificate key is not RSA');
    const notBefore = certificate.validFromDate.getTime();
    const notAfter = certificate.validToDate.getTime();
    const fetchedAt = now();
    if (!(fetchedAt >= notBefore && fetchedAt <= notAfter)) throw rejectCertificate('certificate is expired or not yet valid');
    return { publicKey, notBefore, notAfter, expiresAt: Math.min(notAfter, fetchedAt + cacheMaxAgeMs) };
  }

  function getCertificate(url: URL): Promise<CachedCertificate> {
    const key = url.href;
    const cached = cache.get(key);
    if (cached !== undefined) {
      const at = now();
      if (at < cached.expiresAt && at >= cached.notBefore) {
        cache.delete(key);
        cache.set(key, cached); // most recently used last
        return Promise.resolve(cached);
      }
      cache.delete(key);
    }
    const pending = inflight.get(key);
    if (pending !== undefined) return pending;
    if (inflight.size >= maxConcurrentFetches) {
      return Promise.reject(rejectCertificate('too many certificate downloads in progress'));
    }
    const promise = load(url)
      .then((certificate) => {
        cache.set(key, certificate);
        while (cache.size > cacheMaxEntries) {
          const oldest = cache.keys().next();
          if (oldest.done === true) break;
          cache.delete(oldest.value);
        }
        return certificate;
      })
      .finally(() => inflight.delete(key));
    inflight.set(key, promise);
    return promise;
  }

  return {
    provider: options.provider ?? 'paypal',
    contentTypes: ['application/json'],
    clearCertificateCache(): void {
      cache.clear();
    },
    async verify(webhook: WebhookRequest): Promise<VerifiedWebhook> {
      const headers = webhook.headers;
      const signature = getHeader(headers, 'paypal-transmission-sig');
      if (signature === undefined) throw new WebhookVerificationError('MISSING_SIGNATURE');
      const transmissionId = getHeader(headers, 'paypal-transmission-id');
      const transmissionTime = getHeader(headers, 'paypal-transmission-time');
      const certUrl = getHeader(headers, 'paypal-cert-url');
      const authAlgo = getHeader(headers, 'paypal-auth-algo');
      if (
        transmissionId === undefined ||
        transmissionTime === undefined ||
        certUrl === undefined ||
        authAlgo === undefined ||
        !isField(transmissionId) ||
        !isField(transmissionTime)
      ) {
        throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER', 'Missing or malformed PayPal transmission headers');
      }
      if (authAlgo.toLowerCase() !== SUPPORTED_ALGORITHM) {
        throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER', 'Unsupported PAYPAL-AUTH-ALGO');
      }
      if (toleranceMs > 0) {
        const sentAt = Date.parse(transmissionTime);
        if (Number.isNaN(sentAt)) {
          throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER', 'Malformed PAYPAL-TRANSMISSION-TIME');
        }
        if (Math.abs(now() - sentAt) > toleranceMs) throw new WebhookVerificationError('TIMESTAMP_OUT_OF_TOLERANCE');
      }
      if (!BASE64.test(signature)) throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER');

      const certificate = await getCertificate(checkCertificateUrl(certUrl, hostRule));
      const crc = CRC32.buf(webhook.rawBody) >>> 0;
      const message = Buffer.from(`${transmissionId}|${transmissionTime}|${webhookId}|${crc}`, 'utf8');
      let valid: boolean;
      try {
        valid = cryptoVerify('sha256', message, certificate.publicKey, Buffer.from(signature, 'base64'));
      } catch (error) {
        throw new WebhookVerificationError('INVALID_SIGNATURE', undefined, { cause: error });
      }
      if (!valid) throw new WebhookVerificationError('INVALID_SIGNATURE');

      const payload = parseJsonPayload(webhook.rawBody);
      // The signature binds the body only through CRC32, which anyone can match with another body: a transmission
      // may carry one event, ever (the same delivery re-sent is an ordinary duplicate of it).
      const replayKey: ReplayKey = { key: `transmission:${transmissionId}`, onReuse: 'reject' };
      return {
        externalId: requireEventId(payload['id'], "body field 'id'"),
        eventType: requireEventType(payload['event_type'], "body field 'event_type'"),
        payload,
        replayKey,
      };
    },
  };
}

function ignore(): void {}

/** Non-empty, bounded, and free of the `|` separator (so the signed message cannot be re-split). */
function isField(value: string): boolean {
  return value.length <= MAX_HEADER_FIELD_LENGTH && !value.includes('|');
}
