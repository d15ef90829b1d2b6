import { isIP } from 'node:net';
import { ipKeyGenerator } from 'express-rate-limit';

export interface ClientFailureLimiterOptions {
  /** Failures one client may cause per window before its further ones get 429. */
  limit: number;
  windowMs?: number;
  /** Clients counted at once (default 10,000: about 2 MB); past it, the one whose last failure is oldest is forgotten. */
  maxClients?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

const DEFAULT_MAX_CLIENTS = 10_000;

/**
 * Counts a client address's failures (a webhook whose signature did not verify, an admin request with a wrong token)
 * in fixed windows, and nothing else: a request is counted only once it has failed, so concurrent, slow or aborted
 * legitimate requests never count against their sender.
 *
 * For webhooks it only shapes how failures are answered (401, then 429): it is never consulted before a request's
 * signature is checked, so a sender whose requests verify is never refused because of anyone's failures, not even
 * a forger's behind the same address or proxy. The one exception is work a forger could ask for at will before a
 * signature can be checked at all (see {@link hasSpentBudget}). For the admin API it is consulted first (see
 * admin-auth.ts): there a guess that came through the budget would be the guess that succeeds.
 *
 * At most `maxClients` addresses are counted at once (about 230 bytes each): a flood from many addresses, or from
 * addresses a client chose itself (TRUST_PROXY=true takes them from X-Forwarded-For), would otherwise grow the map
 * without bound within a window. Past the bound the address whose last failure is oldest is forgotten, so a client
 * that keeps failing stays counted; one forgotten starts again from 0 (it is answered 401 a while longer, which is
 * all the budget ever decides).
 */
export class ClientFailureLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly maxClients: number;
  private readonly now: () => number;
  private windowStart: number;
  /** Failures per client in this window, least recently failed first (a Map keeps insertion order). */
  private failures = new Map<string, number>();

  constructor(options: ClientFailureLimiterOptions) {
    this.limit = options.limit;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.now = options.now ?? Date.now;
    this.windowStart = this.now();
  }

  /**
   * The key for a client address (IPv6 grouped by /56, as express-rate-limit does). `ip` is Express's `req.ip`,
   * which TRUST_PROXY may take from X-Forwarded-For unchecked (any text, up to 16 kB); anything that is not an
   * address is keyed on `peerAddress`, the connection's, instead. Not a digest of the text: a forger could then
   * write a new key (a fresh budget, and fresh PayPal download slots) per request. On the peer's address all such
   * requests share one budget, which only requests naming no address ever spend (a proxy writes the real client's
   * address). The key is a copy: a substring of the header would keep the whole header alive with it.
   */
  static keyFor(ip: string | undefined, peerAddress?: string): string {
    const given = ip === undefined ? undefined : withoutPort(ip);
    const address = given !== undefined && isIP(given) !== 0 ? given : peerAddress;
    return address ? flatCopy(ipKeyGenerator(address)) : 'unknown';
  }

  /** Counts one failure of `key`; returns its failures in this window, this one included. */
  recordFailure(key: string): number {
    this.roll();
    const failed = (this.failures.get(key) ?? 0) + 1;
    // Deleted and set again, so the map stays in order of last failure.
    if (!this.failures.delete(key) && this.failures.size >= this.maxClients) {
      this.failures.delete(this.failures.keys().next().value!);
    }
    this.failures.set(key, failed);
    return failed;
  }

  /** Clients counted in this window. */
  get clients(): number {
    return this.failures.size;
  }

  /** `key`'s failures in this window (counts nothing). */
  failuresOf(key: string): number {
    this.roll();
    return this.failures.get(key) ?? 0;
  }

  /**
   * Whether `key` has spent its budget: `limit` failures in this window, so its next failure is answered 429. Read
   * before work a forger could ask for at will (a PayPal certificate download), never to refuse a request whose
   * signature can be checked without it.
   */
  hasSpentBudget(key: string): boolean {
    return this.failuresOf(key) >= this.limit;
  }

  /** Seconds until the current window ends. */
  secondsToReset(): number {
    return Math.max(0, Math.ceil((this.windowStart + this.windowMs - this.now()) / 1000));
  }

  private roll(): void {
    const now = this.now();
    if (now - this.windowStart < this.windowMs) return;
    this.windowStart = now - ((now - this.windowStart) % this.windowMs);
    if (this.failures.size > 0) this.failures = new Map();
  }
}

/**
 * An address without the port some proxies write after it in X-Forwarded-For (Azure Application Gateway:
 * `203.0.113.7:51234`, `[2001:db8::1]:443`); without this, every client behind such a proxy was keyed on the proxy's
 * own address and shared one budget. A bare IPv6 address (colons, no brackets) is left as it is.
 */
function withoutPort(text: string): string {
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text);
  if (v4) return v4[1]!;
  const v6 = /^\[([0-9A-Fa-f:.]+)\]:\d{1,5}$/.exec(text);
  return v6 ? v6[1]! : text;
}

/** `text` in a string of its own (V8 keeps a substring as a slice of its parent, parent and all). */
function flatCopy(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}
