import { createHash } from 'node:crypto';

/**
 * Certificate URLs whose download failed a moment ago, with why, remembered for a while so naming one again costs no
 * download. The cache keeps two of these lists:
 * - refused for good (a 404 for a made-up certificate id, a certificate that cannot verify signatures: not RSA,
 *   expired), for 5 minutes: the request is refused at once, as a failed verification, as the download would have been;
 * - answered 200 with no certificate (an error page, a body over the size limit), for a minute: a 503 again (see
 *   NO_CERTIFICATE_TTL_MS in paypal-certificate-cache.ts).
 *
 * Never transient failures (timeouts, 5xx, 429, 408), which say nothing about the URL. The lists are bounded (oldest
 * forgotten first): a forger cycling through more URLs than one holds pays a download for each, and for a refusal a
 * failed verification too, so reaches its failure budget, after which it gets no downloads at all; a download whose
 * answer was no certificate is not counted, and bounded by the client's downloads per minute.
 *
 * Each URL is kept as its SHA-256 digest, never as its text: with PAYPAL_CERT_HOSTS set any path is accepted, so a
 * forger names URLs as long as the 16 kB of headers, and 1,000 of them kept ~15 MB per process (0.5 MB with the
 * default hosts' certificate path); digests keep ~0.3 MB however long the URLs are. The reason is kept in at most
 * {@link MAX_REASON_LENGTH} characters, in a string of its own.
 */
export interface FailedCertificateUrlsOptions {
  /** How long a refusal is remembered (default 5 minutes). */
  ttlMs?: number;
  /** URLs remembered at most (default 1000; each as a 44-character digest). */
  maxEntries?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** The longest reason kept (ours are short: "certificate URL answered HTTP 404", "certificate key is not RSA"). */
export const MAX_REASON_LENGTH = 200;

export class FailedCertificateUrls {
  /** By the URL's digest: a fixed-size key, whatever the URL's length. */
  private readonly entries = new Map<string, { reason: string; until: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: FailedCertificateUrlsOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.maxEntries = Math.max(1, options.maxEntries ?? 1000);
    this.now = options.now ?? Date.now;
  }

  /** Remembers that `url` was refused, and why. */
  remember(url: string, reason: string): void {
    const key = digestOf(url);
    this.entries.delete(key); // re-inserted last: the newest entry is the last one forgotten
    this.entries.set(key, { reason: flatCopy(reason.slice(0, MAX_REASON_LENGTH)), until: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  /** Why `url` was refused, if that was less than the TTL ago. */
  recall(url: string): string | undefined {
    if (this.entries.size === 0) return undefined; // nothing to look up: no digest to compute
    const key = digestOf(url);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (this.now() < entry.until) return entry.reason;
    this.entries.delete(key);
    return undefined;
  }

  clear(): void {
    this.entries.clear();
  }
}

/** A fixed-size key for `url` (44 characters). */
function digestOf(url: string): string {
  return createHash('sha256').update(url, 'utf8').digest('base64');
}

/** `text` in a string of its own (V8 keeps a substring as a slice of its parent, parent and all). */
function flatCopy(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}
