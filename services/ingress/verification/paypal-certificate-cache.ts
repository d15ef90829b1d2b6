import { X509Certificate, type KeyObject } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { DependencyUnavailableError } from '../../shared/errors/app-error.js';
import { createLogger, type Logger } from '../../shared/logging/logger.js';
import { RateLimitedLog } from '../../shared/logging/rate-limited-log.js';
import { FailedCertificateUrls } from './failed-certificate-urls.js';
import type { PaypalCertificateStore, SharedCertificate } from './paypal-certificate-store.js';
import { rejectCertificate } from './paypal-certificate-url.js';
import { CertificateDownloadRate } from './paypal-download-rate.js';
import { CertificateDownloadSlots } from './paypal-download-slots.js';
import { FailureBudgetSpentError, type WebhookVerificationError } from './verification-errors.js';
import type { WebhookClient } from './webhook-request.js';

/** A PayPal signing certificate's key, as cached. */
export interface CachedCertificate {
  publicKey: KeyObject;
  notBefore: number;
  /** From when it is used: its notBefore less {@link CLOCK_SKEW_MS}. */
  usableFrom: number;
  notAfter: number;
  /** Until when it is used (cached, and in the store): its notAfter plus {@link CLOCK_SKEW_MS}, or sooner (cacheMaxAgeMs). */
  expiresAt: number;
  /** The certificate (PEM), as the store keeps it. */
  pem: string;
  /** In the store already (read from it, or written once it verified a genuine signature). */
  shared: boolean;
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
  /** Longest a certificate stays cached (default 24 h; never past its notAfter plus {@link CLOCK_SKEW_MS}). */
  cacheMaxAgeMs?: number;
  /** Distinct certificate URLs downloaded at the same time at most (default 16); more get DependencyUnavailableError (503). */
  maxConcurrentFetches?: number;
  /** Of those, at most this many for one client (default 2); its further ones get DependencyUnavailableError (503). */
  maxConcurrentFetchesPerClient?: number;
  /** Downloads one client may start per minute, however they end (default 20); past it, DependencyUnavailableError (503). */
  maxFetchesPerClientPerMinute?: number;
  /** How long a URL whose certificate was refused (4xx, not RSA, expired) is refused without a download (default 5 minutes). */
  failedUrlTtlMs?: number;
  /**
   * How long a URL whose host answered 200 with no certificate (not one that parses, or over the size limit) is
   * answered 503 without a download (default 1 minute; see {@link NO_CERTIFICATE_TTL_MS}).
   */
  noCertificateUrlTtlMs?: number;
  /**
   * Certificates shared with the other ingress processes and kept across restarts (looked up before a download;
   * written once a certificate has verified a genuine signature). Default: none.
   */
  store?: PaypalCertificateStore;
  /** Where rejected certificates, busy slots and unreachable hosts are reported (default: the `paypal-certificates` logger). */
  logger?: Pick<Logger, 'warn'>;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/**
 * How far ahead of our clock a certificate's notBefore may be, and how far behind it its notAfter, and the
 * certificate still be used. PayPal signs with a new certificate once it is valid by PayPal's clock, which ours may
 * trail: refused, every PayPal event signed with it was a 401 (and its URL refused for 5 minutes) although the
 * certificate was valid seconds later. Likewise at the other end, with our clock ahead of PayPal's, which still signs
 * with the old certificate until its own clock reaches the notAfter. The dates guard little here (the certificate
 * comes from PayPal's host over https, its key is PayPal's), so a few minutes' allowance at either end costs no
 * trust; 5 minutes is the usual allowance for clock differences between hosts.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * How long a URL whose host answered 200 with no certificate is answered 503 without another download. Not a refusal
 * (an error page of the host, or of a proxy before it, says nothing against the sender), but not forgotten at once
 * either: with PAYPAL_CERT_HOSTS set any path is accepted, so a forger can name a page of an allowed host that answers
 * 200 with HTML, uncounted (a 503), and without this every request naming it cost a download. Now a URL costs one
 * download a minute, whoever names it; a genuine event is retried by PayPal and goes through once the host serves the
 * certificate again, within a minute.
 */
export const NO_CERTIFICATE_TTL_MS = 60_000;

/**
 * Downloads, checks and caches PayPal signing certificates by URL (already checked by checkCertificateUrl, whose
 * canonical href is the key): one download per URL at a time, bounded size and time, no redirects, RSA keys
 * valid now (notBefore and notAfter with {@link CLOCK_SKEW_MS} to spare), least recently used evicted. A certificate not valid
 * yet even so is kept, and answered DependencyUnavailableError (503: PayPal retries) until it is. A URL the host
 * refuses (4xx) or whose certificate cannot verify signatures (not RSA, expired) is CERTIFICATE_REJECTED, with the
 * reason in `cause`; a host that cannot answer now (network error, timeout, 5xx, 429, 408) or answers 200 with no
 * certificate (an error page, a body over the size limit) is DependencyUnavailableError('paypal-certificates').
 *
 * The URL comes from an unsigned header, so a download is work anyone can ask for, one per made-up URL. In the order
 * a request meets them: a cached certificate is used (for anyone); a URL refused a moment ago is refused again
 * (FailedCertificateUrls); a download in flight is joined; the shared store is read; and only then is a download
 * started, unless the client has spent its failed-verification budget (FailureBudgetSpentError) or holds its share
 * of the download slots, or every slot is taken (CertificateDownloadSlots; 503), or it has started its downloads for
 * this minute (CertificateDownloadRate; 503).
 */
export class PaypalCertificateCache {
  private readonly cache = new Map<string, CachedCertificate>();
  private readonly inflight = new Map<string, Promise<CachedCertificate>>();
  private readonly lookups = new Map<string, Promise<CachedCertificate | undefined>>();

  private readonly slots: CertificateDownloadSlots;
  private readonly rate: CertificateDownloadRate;
  private readonly failed: FailedCertificateUrls;
  /** URLs whose host answered 200 with no certificate a moment ago (see {@link NO_CERTIFICATE_TTL_MS}). */
  private readonly noCertificate: FailedCertificateUrls;
  // One line a minute each, with a count: how often these happen is up to whoever sends requests.
  private readonly rejections: RateLimitedLog;
  private readonly busy: RateLimitedLog;
  private readonly unavailable: RateLimitedLog;

  constructor(private readonly options: PaypalCertificateCacheOptions = {}) {
    this.slots = new CertificateDownloadSlots({
      maxTotal: Math.max(1, options.maxConcurrentFetches ?? 16),
      maxPerClient: Math.max(1, options.maxConcurrentFetchesPerClient ?? 2),
    });
    this.rate = new CertificateDownloadRate({
      ...(options.maxFetchesPerClientPerMinute === undefined ? {} : { limit: options.maxFetchesPerClientPerMinute }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    this.failed = new FailedCertificateUrls({
      ...(options.failedUrlTtlMs === undefined ? {} : { ttlMs: options.failedUrlTtlMs }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    this.noCertificate = new FailedCertificateUrls({
      ttlMs: options.noCertificateUrlTtlMs ?? NO_CERTIFICATE_TTL_MS,
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    const logger = options.logger ?? createLogger('paypal-certificates');
    this.rejections = new RateLimitedLog((fields) => logger.warn('paypal signing certificate rejected', fields));
    this.busy = new RateLimitedLog((fields) => logger.warn('paypal certificate downloads busy; answered 503', fields));
    this.unavailable = new RateLimitedLog((fields) => logger.warn('paypal signing certificate cannot be fetched now; answered 503', fields));
  }

  /** Drops every cached certificate (and every remembered refusal). */
  clear(): void {
    this.cache.clear();
    this.noCertificate.clear();
    this.failed.clear();
  }

  /**
   * The certificate at `url`, from the cache or downloaded for `client` (the request's sender; see
   * CertificateDownloadSlots for why it matters).
   * @throws {WebhookVerificationError} CERTIFICATE_REJECTED: the host refused the URL (now or a few minutes ago), or
   *   its certificate cannot verify signatures (not RSA, expired)
   * @throws {FailureBudgetSpentError} not cached, and `client` has spent its failed-verification budget
   * @throws {DependencyUnavailableError} not cached, and no download slot is free for `client`, or `client` has
   *   started its downloads for this minute, or the host cannot answer now, or answered no certificate (not one
   *   that parses, or over the size limit); or the certificate is not valid yet
   *   (its notBefore more than {@link CLOCK_SKEW_MS} ahead)
   */
  async get(url: URL, client?: WebhookClient): Promise<CachedCertificate> {
    const certificate = await this.find(url, client);
    if ((this.options.now ?? Date.now)() < certificate.usableFrom) {
      // PayPal's certificate, not valid yet even allowing for clock skew: no verdict on the request (a 401 would
      // drop a genuine event), so a 503 PayPal retries. It stays cached, so retries cost no download until it is.
      this.unavailable.note({ certUrl: url.href, cause: `certificate not valid until ${new Date(certificate.notBefore).toISOString()}` });
      throw new DependencyUnavailableError('paypal-certificates', { cause: new Error('certificate not valid yet'), logged: true });
    }
    return certificate;
  }

  /** The certificate at `url`, usable now or not yet (see {@link get}). */
  private async find(url: URL, client?: WebhookClient): Promise<CachedCertificate> {
    const key = url.href;
    const known = this.known(key);
    if (known !== undefined) return known;
    if (this.options.store !== undefined) {
      const shared = await this.fromStore(url);
      if (shared !== undefined) return shared;
      // While the store answered, another request may have cached, refused or started downloading this URL.
      const meanwhile = this.known(key);
      if (meanwhile !== undefined) return meanwhile;
    }
    // A client past its budget gets no more downloads: its forgeries would cost one each while every one of its
    // failures is already answered 429. Checked only now: a certificate at hand (here or in the shared store) is
    // used for anyone, so a correctly signed event is never refused for its address's failures when it can be
    // checked without a download.
    if (client?.hasSpentFailureBudget() === true) throw new FailureBudgetSpentError();
    const slot = this.slots.tryAcquire(client?.key);
    if (typeof slot === 'string') {
      // Not a verdict on this request, so a 503 the sender retries, never a failed verification. Logged here, one
      // line a minute with a count: a flood decides how often this happens.
      this.busy.note({ reason: slot === 'all-busy' ? 'every download slot is busy' : "the client's download slots are busy", inFlight: this.slots.inUse });
      throw new DependencyUnavailableError('paypal-certificates', { cause: new Error(`certificate downloads busy (${slot})`), logged: true });
    }
    // Downloads that end in the host's trouble (5xx, 429, a timeout) are no failed verification, so the failure budget
    // does not bound them: this does, per client and minute (see CertificateDownloadRate).
    if (!this.rate.tryStart(client?.key)) {
      slot.release();
      this.busy.note({ reason: "the client's downloads for this minute are spent", inFlight: this.slots.inUse });
      throw new DependencyUnavailableError('paypal-certificates', { cause: new Error('certificate downloads spent (client-rate)'), logged: true });
    }
    const promise = this.load(url)
      .then((certificate) => this.keep(key, certificate))
      .finally(() => {
        this.inflight.delete(key);
        slot.release();
      });
    this.inflight.set(key, promise);
    return promise;
  }

  /**
   * `certificate` (as `get(url)` gave it) verified a genuine signature: shares it with the other processes through
   * the store, once. Only such certificates are shared, so the store never holds one only a forger has named.
   */
  remember(url: URL, certificate: CachedCertificate): void {
    if (certificate.shared || this.options.store === undefined) return;
    certificate.shared = true;
    // Never awaited, never failing the request: a store that cannot take it only costs other processes a download.
    this.options.store.put(url.href, { pem: certificate.pem, expiresAt: certificate.expiresAt }).catch(() => undefined);
  }

  /** What this process knows of `key` without asking anyone: cached, refused a moment ago, or being downloaded. */
  private known(key: string): CachedCertificate | Promise<CachedCertificate> | undefined {
    const cached = this.cached(key);
    if (cached !== undefined) return cached;
    // Refused a moment ago: refused again without a download (a failed verification, as the download's would be).
    const refusal = this.failed.recall(key);
    if (refusal !== undefined) return Promise.reject(rejectCertificate(`certificate URL was refused recently (${refusal})`));
    // Answered 200 with no certificate a moment ago: a 503 again, without a download (see NO_CERTIFICATE_TTL_MS).
    const noCertificate = this.noCertificate.recall(key);
    if (noCertificate !== undefined) return Promise.reject(this.unavailableNow(new URL(key), `${noCertificate} (a moment ago; not downloaded again yet)`));
    // Joining a download in flight costs nothing more, whoever asks: the request that started it holds its slot.
    return this.inflight.get(key);
  }

  /** The certificate the store holds for `url`, if any and still usable (one read per URL at a time). */
  private fromStore(url: URL): Promise<CachedCertificate | undefined> {
    const key = url.href;
    let lookup = this.lookups.get(key);
    if (lookup === undefined) {
      lookup = this.readStore(key).finally(() => this.lookups.delete(key));
      this.lookups.set(key, lookup);
    }
    return lookup;
  }

  private async readStore(key: string): Promise<CachedCertificate | undefined> {
    let shared: SharedCertificate | undefined;
    try {
      shared = await this.options.store!.get(key);
    } catch {
      shared = undefined; // a store must not fail a verification: download instead
    }
    if (shared === undefined) return undefined;
    const certificate = this.inspect(shared.pem, shared.expiresAt);
    // Unusable (expired since, or not what we wrote): downloaded again, like a certificate never seen.
    if (!('publicKey' in certificate)) return undefined;
    certificate.shared = true;
    return this.keep(key, certificate);
  }

  /** Caches `certificate` under `key`, evicting the least recently used beyond the limit. */
  private keep(key: string, certificate: CachedCertificate): CachedCertificate {
    const maxEntries = Math.max(1, this.options.cacheMaxEntries ?? 100);
    this.cache.delete(key);
    this.cache.set(key, certificate);
    while (this.cache.size > maxEntries) {
      const oldest = this.cache.keys().next();
      if (oldest.done === true) break;
      this.cache.delete(oldest.value);
    }
    return certificate;
  }

  /**
   * The cached certificate for `key` unless expired (then most recently used), else undefined. One not valid yet is
   * kept: `get` answers 503 for it until it is, without a download.
   */
  private cached(key: string): CachedCertificate | undefined {
    const cached = this.cache.get(key);
    if (cached === undefined) return undefined;
    this.cache.delete(key);
    const at = (this.options.now ?? Date.now)();
    if (!(at < cached.expiresAt)) return undefined;
    this.cache.set(key, cached); // most recently used last
    return cached;
  }

  private async load(url: URL): Promise<CachedCertificate> {
    const now = this.options.now ?? Date.now;
    let data: Buffer;
    try {
      data = await this.download(url);
    } catch (error) {
      if (error instanceof CertificateRefused) throw this.reject(url, error.message, error.cause);
      if (error instanceof NoCertificateAnswered) throw this.noCertificateAt(url, error.message, error);
      // Nothing is known about the request's signature: the certificate host is down, slow or shedding load.
      throw this.unavailableNow(url, error instanceof Error ? error.message : String(error), error);
    }
    const maxAgeMs = this.options.cacheMaxAgeMs ?? 24 * 60 * 60 * 1000;
    const certificate = this.inspect(data, now() + maxAgeMs);
    if ('publicKey' in certificate) return certificate;
    // A 200 that is no certificate at all is most likely the host's failure (or an error page of a proxy or CDN before
    // it): taken as a refusal, every genuine event signed with that certificate was a 401 (counted) and its URL
    // refused for 5 minutes, retries included. A certificate that parses but cannot serve (not RSA, expired) is the
    // host's answer about this URL.
    if (certificate.unreadable) throw this.noCertificateAt(url, certificate.problem, certificate.cause);
    throw this.reject(url, certificate.problem, certificate.cause);
  }

  /**
   * The host answered 200 with no certificate: unavailable (503, not counted), and the URL answered so without a
   * download for {@link NO_CERTIFICATE_TTL_MS}, as a forger may name such a page on purpose.
   */
  private noCertificateAt(url: URL, reason: string, cause: unknown): DependencyUnavailableError {
    this.noCertificate.remember(url.href, reason);
    return this.unavailableNow(url, reason, cause);
  }

  /**
   * A download that told nothing about the request's signature: DependencyUnavailableError (503 with Retry-After),
   * which has PayPal retry and counts nothing against it (a 401 would drop the event and count as a forgery). Not
   * remembered as a refusal. Logged here, rate-limited (see `unavailable`).
   */
  private unavailableNow(url: URL, reason: string, cause?: unknown): DependencyUnavailableError {
    this.unavailable.note({ certUrl: url.href, cause: reason });
    return new DependencyUnavailableError('paypal-certificates', { cause, logged: true });
  }

  /**
   * The certificate in `data` (PEM or DER; the first of a chain) if it can verify signatures now or later: an RSA
   * key, not expired. Used from its notBefore less {@link CLOCK_SKEW_MS} until its notAfter plus that allowance, or
   * `usableUntil` if that comes first. Otherwise, why not, and whether `data` is no certificate at all (`unreadable`).
   */
  private inspect(data: Buffer | string, usableUntil: number): CachedCertificate | { problem: string; cause?: unknown; unreadable?: true } {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(data);
    } catch (error) {
      return { problem: 'certificate could not be parsed', cause: error, unreadable: true };
    }
    const publicKey = certificate.publicKey;
    if (publicKey.asymmetricKeyType !== 'rsa') return { problem: 'certificate key is not RSA' };
    const notBefore = certificate.validFromDate.getTime();
    const notAfter = certificate.validToDate.getTime();
    const at = (this.options.now ?? Date.now)();
    // Only an expired certificate is refused: one not valid yet will be, and is no verdict on anything (see get).
    // Expired by our clock, allowing for clock skew as at notBefore: PayPal, its clock behind ours, still signs with it.
    const expiresAt = Math.min(notAfter + CLOCK_SKEW_MS, usableUntil);
    if (at >= expiresAt) return { problem: 'certificate is expired' };
    return { publicKey, notBefore, usableFrom: notBefore - CLOCK_SKEW_MS, notAfter, expiresAt, pem: certificate.toString(), shared: false };
  }

  /**
   * A certificate refused for good (a 4xx, not RSA, expired): CERTIFICATE_REJECTED (401,
   * a failed verification). The client is told nothing more; the reason is logged, rate-limited (a forger picks
   * how often this happens), since a 404 or a bad certificate would otherwise show up nowhere but as 401s.
   */
  private reject(url: URL, reason: string, cause?: unknown): WebhookVerificationError {
    this.failed.remember(url.href, reason);
    this.rejections.note({ certUrl: url.href, reason, cause: cause instanceof Error ? cause.message : undefined });
    return rejectCertificate(reason, cause);
  }

  private async download(url: URL): Promise<Buffer> {
    const timeoutMs = this.options.fetchTimeoutMs ?? 5000;
    const maxBytes = this.options.maxCertificateBytes ?? 64 * 1024;
    // Errors thrown here (network, TLS, timeout) are transient; CertificateRefused marks the answers that are not, and
    // NoCertificateAnswered a 200 too large to be a certificate.
    const { statusCode, headers, body } = await request(url, {
      method: 'GET',
      dispatcher: this.options.dispatcher,
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      headers: { accept: 'application/x-pem-file, application/x-x509-ca-cert, text/plain, */*' },
    });
    try {
      // 5xx, 429 and 408: the host cannot answer now. Any other non-200 (a 404 for a made-up URL; a 3xx, since
      // undici's request never follows redirects) is the host's answer about this URL.
      if (hostCannotAnswerNow(statusCode)) throw new Error(`certificate URL answered HTTP ${statusCode}`);
      if (statusCode !== 200) throw new CertificateRefused(`certificate URL answered HTTP ${statusCode}`);
      // A certificate is a few kB: a 200 past the limit is an error page or the like (see noCertificateAt).
      const declared = Number(headers['content-length']);
      if (declared > maxBytes) throw new NoCertificateAnswered('certificate response too large');
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) throw new NoCertificateAnswered('certificate response too large');
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

/**
 * Whether `statusCode` says the certificate host cannot answer now, rather than anything about the URL: a 5xx (the
 * host or a proxy before it in trouble), 429 (shedding load) and 408 Request Timeout (it, or a proxy in front of it,
 * gave up waiting: a 4xx by number, but transient, and nothing a forger's URL decides). Such a download is a 503
 * PayPal retries; taken as a refusal, a genuine event was a 401 and its URL was refused without a download for 5
 * minutes, every retry of the event included.
 */
function hostCannotAnswerNow(statusCode: number): boolean {
  return statusCode >= 500 || statusCode === 429 || statusCode === 408;
}

/** The certificate host's answer refuses this URL for good (as opposed to a transient failure to get an answer). */
class CertificateRefused extends Error {
  override readonly name = 'CertificateRefused';
}

/** A 200 whose body cannot be a certificate (over the size limit): see noCertificateAt. */
class NoCertificateAnswered extends Error {
  override readonly name = 'NoCertificateAnswered';
}

function ignore(): void {}
