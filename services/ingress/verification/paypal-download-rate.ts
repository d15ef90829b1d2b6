/**
 * How many PayPal certificate downloads one client may start per minute, whatever they end in.
 *
 * The certificate URL comes from an unsigned header, so a forger naming a fresh URL per request gets a download per
 * request. A download the host refuses for good (a 404 for a made-up certificate id) is a failed verification, which
 * the client's failure budget bounds; one the host cannot answer now (5xx, 429, a timeout) rightly is not (it says
 * nothing about the request: PayPal's own events must not be counted as forgeries during an outage), so it bounded
 * nothing. A forger's made-up URLs meeting a certificate host in trouble (or shedding the load the forger makes the
 * ingress send it: PayPal answering 429) had a download made for every forgery, without end. Downloads at once are
 * bounded per client and in all (CertificateDownloadSlots); this bounds how many a client starts over time.
 *
 * PayPal itself needs one download per certificate (requests for a URL being downloaded share that download, and a
 * certificate is cached for a day), so it never comes near the limit; past it, a request needing a download is answered
 * 503 and retried.
 */
export const MAX_DOWNLOADS_PER_CLIENT_PER_MINUTE = 20;

export interface CertificateDownloadRateOptions {
  /** Downloads one client may start per window (default {@link MAX_DOWNLOADS_PER_CLIENT_PER_MINUTE}). */
  limit?: number;
  windowMs?: number;
  /** Clients counted at once (default 10,000); past it, the one whose last download is oldest is forgotten. */
  maxClients?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

export class CertificateDownloadRate {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly maxClients: number;
  private readonly now: () => number;
  private windowStart: number;
  /** Downloads started per client in this window, least recently started first (a Map keeps insertion order). */
  private started = new Map<string, number>();

  constructor(options: CertificateDownloadRateOptions = {}) {
    this.limit = Math.max(1, options.limit ?? MAX_DOWNLOADS_PER_CLIENT_PER_MINUTE);
    this.windowMs = options.windowMs ?? 60_000;
    this.maxClients = Math.max(1, options.maxClients ?? 10_000);
    this.now = options.now ?? Date.now;
    this.windowStart = this.now();
  }

  /**
   * Counts a download `client` starts, if it has one left in this window: true, counted; false, nothing counted. A
   * caller that names no client is not limited here (the download slots' overall limit still applies).
   */
  tryStart(client: string | undefined): boolean {
    if (client === undefined) return true;
    this.roll();
    const started = this.started.get(client) ?? 0;
    if (started >= this.limit) return false;
    // Deleted and set again, so the map stays in order of last download.
    if (!this.started.delete(client) && this.started.size >= this.maxClients) {
      this.started.delete(this.started.keys().next().value!);
    }
    this.started.set(client, started + 1);
    return true;
  }

  private roll(): void {
    const now = this.now();
    if (now - this.windowStart < this.windowMs) return;
    this.windowStart = now - ((now - this.windowStart) % this.windowMs);
    if (this.started.size > 0) this.started = new Map();
  }
}
