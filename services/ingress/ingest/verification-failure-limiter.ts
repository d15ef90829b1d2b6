import { ipKeyGenerator } from 'express-rate-limit';

export interface VerificationFailureLimiterOptions {
  /** Failed verifications one client may cause per window before its further failures get 429. */
  limit: number;
  windowMs?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/**
 * Counts failed signature verifications per client address, in fixed windows, and nothing else: a request is
 * counted only once it has failed, so concurrent, slow or aborted legitimate requests never count against their
 * sender. It only shapes how failures are answered (401, then 429): it is never consulted before a request's
 * signature is checked, so a sender whose requests verify is never refused because of anyone's failures, not even
 * a forger's behind the same address or proxy.
 */
export class VerificationFailureLimiter {
  readonly limit: number;
  readonly windowMs: number;
  private readonly now: () => number;
  private windowStart: number;
  private failures = new Map<string, number>();

  constructor(options: VerificationFailureLimiterOptions) {
    this.limit = options.limit;
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.windowStart = this.now();
  }

  /** The key for a client address (IPv6 grouped by /56, as express-rate-limit does). */
  static keyFor(ip: string | undefined): string {
    return ip ? ipKeyGenerator(ip) : 'unknown';
  }

  /** Counts one failure of `key`; returns its failures in this window, this one included. */
  recordFailure(key: string): number {
    this.roll();
    const failed = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failed);
    return failed;
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
