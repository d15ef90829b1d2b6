/**
 * Certificate URLs whose download was refused for good a moment ago (a 404 for a made-up certificate id, a response
 * that is no usable certificate), remembered for a few minutes so naming one again costs no download: the request
 * is refused at once, as a failed verification, as the download would have been.
 *
 * Only refusals are remembered, never transient failures (timeouts, 5xx), which say nothing about the URL. The
 * list is bounded (oldest forgotten first): a forger cycling through more URLs than it holds pays a download and a
 * failed verification for each, and so reaches its failure budget, after which it gets no downloads at all.
 */
export interface FailedCertificateUrlsOptions {
  /** How long a refusal is remembered (default 5 minutes). */
  ttlMs?: number;
  /** URLs remembered at most (default 1000; each is at most a header's length). */
  maxEntries?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

export class FailedCertificateUrls {
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
    this.entries.delete(url); // re-inserted last: the newest entry is the last one forgotten
    this.entries.set(url, { reason, until: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  /** Why `url` was refused, if that was less than the TTL ago. */
  recall(url: string): string | undefined {
    const entry = this.entries.get(url);
    if (entry === undefined) return undefined;
    if (this.now() < entry.until) return entry.reason;
    this.entries.delete(url);
    return undefined;
  }

  clear(): void {
    this.entries.clear();
  }
}
