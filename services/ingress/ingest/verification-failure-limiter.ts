import { ipKeyGenerator } from 'express-rate-limit';

export interface VerificationFailureLimiterOptions {
  /** Failed verifications one client may cause per window before its requests get 429. */
  limit: number;
  windowMs?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/**
 * Counts failed signature verifications (401s) per client address, in fixed windows, and nothing else: a request
 * is counted only once it has failed, so concurrent, slow or aborted legitimate requests never count against
 * their sender (a counter that is incremented up front and given back when a request succeeds charges every
 * request in flight, and every request whose client hung up, as a failure — enough to 429 a busy provider).
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

  /** Failures left before `key` is refused, in this window. */
  remaining(key: string): number {
    this.roll();
    return Math.max(0, this.limit - (this.failures.get(key) ?? 0));
  }

  /** Whether `key` has used up its failures for this window. */
  isBlocked(key: string): boolean {
    return this.remaining(key) === 0;
  }

  recordFailure(key: string): void {
    this.roll();
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
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
