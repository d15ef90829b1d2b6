/**
 * How many PayPal certificate downloads may run at once: a few in all, and fewer per client.
 *
 * The certificate URL comes from an unsigned header, so anyone can make the ingress download one, and a forger
 * naming a fresh URL per request gets one download per request. The overall limit keeps that from becoming
 * unbounded work and unbounded requests to PayPal; the per-client limit keeps one client (one budget key, as the
 * failed-verification limiter computes it: an address, IPv6 by /56) from holding every slot, which would leave
 * PayPal's own events (whose certificate is not cached after a restart, a deploy, or the daily expiry) with no slot.
 * PayPal itself needs about one: its events name one certificate at a time, and requests for a URL already being
 * downloaded wait for that download instead of taking a slot.
 */
export interface DownloadSlotsOptions {
  /** Downloads in flight at most, all clients together. */
  maxTotal: number;
  /** Downloads in flight at most for one client. */
  maxPerClient: number;
}

/** A slot taken: `release` gives it back (once; later calls do nothing). */
export interface DownloadSlot {
  release(): void;
}

/** Why no slot was given: every slot is taken, or this client holds its share already. */
export type SlotRefusal = 'all-busy' | 'client-busy';

export class CertificateDownloadSlots {
  private total = 0;
  private readonly byClient = new Map<string, number>();

  constructor(private readonly options: DownloadSlotsOptions) {}

  /** A slot for `client` (undefined: a caller that names no client, limited by the overall limit only), or why not. */
  tryAcquire(client: string | undefined): DownloadSlot | SlotRefusal {
    if (this.total >= this.options.maxTotal) return 'all-busy';
    const held = client === undefined ? 0 : (this.byClient.get(client) ?? 0);
    if (client !== undefined && held >= this.options.maxPerClient) return 'client-busy';
    this.total++;
    if (client !== undefined) this.byClient.set(client, held + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        if (client === undefined) return;
        const left = (this.byClient.get(client) ?? 1) - 1;
        // No entry for a client with nothing in flight: the map stays as small as the downloads running.
        if (left === 0) this.byClient.delete(client);
        else this.byClient.set(client, left);
      },
    };
  }

  /** Downloads in flight (all clients). */
  get inUse(): number {
    return this.total;
  }
}
