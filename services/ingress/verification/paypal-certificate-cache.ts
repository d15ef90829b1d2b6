import { X509Certificate, type KeyObject } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { DependencyUnavailableError } from '../../shared/errors/app-error.js';
import { rejectCertificate } from './paypal-certificate-url.js';

/** A PayPal signing certificate's key, as cached. */
export interface CachedCertificate {
  publicKey: KeyObject;
  notBefore: number;
  notAfter: number;
  expiresAt: number;
}

export interface PaypalCertificateCacheOptions {
  /** undici dispatcher for the download (tests: an Agent trusting a local CA). */
  dispatcher?: Dispatcher;
  /** Download timeout (default 5000 ms). */
  fetchTimeoutMs?: number;
  /** Largest certificate response accepted (default 64 KiB). */
  maxCertificateBytes?: number;
  /** Parsed certificates kept (default 100, least recently used evicted). */
  cacheMaxEntries?: number;
  /** Longest a certificate stays cached (default 24 h; never past its validTo). */
  cacheMaxAgeMs?: number;
  /** Distinct certificate URLs downloaded at the same time at most (default 16); more get DependencyUnavailableError (503). */
  maxConcurrentFetches?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/**
 * Downloads, checks and caches PayPal signing certificates by URL (already checked by checkCertificateUrl, whose
 * canonical href is the key): one download per URL at a time, bounded size and time, no redirects, RSA keys
 * valid now, least recently used evicted. Failures are CERTIFICATE_REJECTED, with the reason in `cause`.
 */
export class PaypalCertificateCache {
  private readonly cache = new Map<string, CachedCertificate>();
  private readonly inflight = new Map<string, Promise<CachedCertificate>>();

  constructor(private readonly options: PaypalCertificateCacheOptions = {}) {}

  /** Drops every cached certificate. */
  clear(): void {
    this.cache.clear();
  }

  get(url: URL): Promise<CachedCertificate> {
    const now = this.options.now ?? Date.now;
    const key = url.href;
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      const at = now();
      if (at < cached.expiresAt && at >= cached.notBefore) {
        this.cache.delete(key);
        this.cache.set(key, cached); // most recently used last
        return Promise.resolve(cached);
      }
      this.cache.delete(key);
    }
    const pending = this.inflight.get(key);
    if (pending !== undefined) return pending;
    if (this.inflight.size >= (this.options.maxConcurrentFetches ?? 16)) {
      // Not a verdict on this request: anyone can name a certificate URL (forgers too, one new URL each), so every
      // download slot may be held by others' requests. A 503 (not counted as a failed verification) has the
      // sender retry once a slot is free; a 401 here refused correctly signed events because of forgeries.
      return Promise.reject(new DependencyUnavailableError('paypal-certificates', { cause: new Error('too many certificate downloads in progress') }));
    }
    const maxEntries = Math.max(1, this.options.cacheMaxEntries ?? 100);
    const promise = this.load(url)
      .then((certificate) => {
        this.cache.set(key, certificate);
        while (this.cache.size > maxEntries) {
          const oldest = this.cache.keys().next();
          if (oldest.done === true) break;
          this.cache.delete(oldest.value);
        }
        return certificate;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, promise);
    return promise;
  }

  private async load(url: URL): Promise<CachedCertificate> {
    const now = this.options.now ?? Date.now;
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(await this.download(url));
    } catch (error) {
      throw rejectCertificate('certificate could not be fetched or parsed', error);
    }
    const publicKey = certificate.publicKey;
    if (publicKey.asymmetricKeyType !== 'rsa') throw rejectCertificate('certificate key is not RSA');
    const notBefore = certificate.validFromDate.getTime();
    const notAfter = certificate.validToDate.getTime();
    const fetchedAt = now();
    if (!(fetchedAt >= notBefore && fetchedAt <= notAfter)) throw rejectCertificate('certificate is expired or not yet valid');
    const maxAgeMs = this.options.cacheMaxAgeMs ?? 24 * 60 * 60 * 1000;
    return { publicKey, notBefore, notAfter, expiresAt: Math.min(notAfter, fetchedAt + maxAgeMs) };
  }

  private async download(url: URL): Promise<Buffer> {
    const timeoutMs = this.options.fetchTimeoutMs ?? 5000;
    const maxBytes = this.options.maxCertificateBytes ?? 64 * 1024;
    const { statusCode, headers, body } = await request(url, {
      method: 'GET',
      dispatcher: this.options.dispatcher,
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      headers: { accept: 'application/x-pem-file, application/x-x509-ca-cert, text/plain, */*' },
    });
    try {
      // undici's request never follows redirects: a 3xx lands here and is refused like any non-200.
      if (statusCode !== 200) throw new Error(`certificate URL answered HTTP ${statusCode}`);
      const declared = Number(headers['content-length']);
      if (declared > maxBytes) throw new Error('certificate response too large');
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) throw new Error('certificate response too large');
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
}

function ignore(): void {}
