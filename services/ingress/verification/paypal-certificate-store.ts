import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../../shared/logging/logger.js';
import { createLogger } from '../../shared/logging/logger.js';
import { RateLimitedLog } from '../../shared/logging/rate-limited-log.js';

/** A certificate as shared between processes: its PEM text, and until when it may be used (ms since the epoch). */
export interface SharedCertificate {
  pem: string;
  expiresAt: number;
}

/**
 * PayPal signing certificates that verified a genuine signature, shared by every ingress process and kept across
 * restarts. Without it each new process (every restart, every deploy, every pod) downloads each certificate again
 * for its first events, which is exactly when a forged flood holding the download slots hurts. Only certificates
 * that verified a signature are written, so what forgers name never gets in.
 *
 * The store is an optimisation, never a dependency: `get` answers undefined when it cannot answer (the caller then
 * downloads), and `put` never fails the request it is made for.
 */
export interface PaypalCertificateStore {
  /** The certificate stored for `url` (a canonical certificate URL), or undefined (also when the store cannot answer). */
  get(url: string): Promise<SharedCertificate | undefined>;
  /** Stores `certificate` for `url` until its `expiresAt`. Never rejects. */
  put(url: string, certificate: SharedCertificate): Promise<void>;
}

export interface RedisPaypalCertificateStoreOptions {
  /** Key prefix, e.g. `bull:webhook-events:paypal-certificates` (the queue's, so deployments sharing a Redis don't mix). */
  keyPrefix: string;
  /** Longest a read (or write) may take; a read that takes longer is a miss, and the certificate is downloaded (default 250 ms). */
  timeoutMs?: number;
  logger?: Pick<Logger, 'warn'>;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** A {@link PaypalCertificateStore} in Redis: one string key per certificate URL, expiring with the certificate. */
export class RedisPaypalCertificateStore implements PaypalCertificateStore {
  private redis: Redis | undefined;
  private readonly failures: RateLimitedLog;

  constructor(private readonly options: RedisPaypalCertificateStoreOptions) {
    const logger = options.logger ?? createLogger('paypal-certificates');
    // A Redis outage would otherwise log once per PayPal event; the certificate is downloaded meanwhile.
    this.failures = new RateLimitedLog((fields) => logger.warn('paypal certificate store unavailable; downloading instead', fields));
  }

  /**
   * The connection to use (the ingress's fail-fast producer connection). The verifiers are built, and configuration
   * checked, before anything connects; until this is called every read misses and every write is skipped.
   */
  use(redis: Redis): void {
    this.redis = redis;
  }

  async get(url: string): Promise<SharedCertificate | undefined> {
    const redis = this.redis;
    if (redis === undefined) return undefined;
    try {
      const value = await this.withinTimeout(redis.get(this.key(url)));
      return value === null ? undefined : parse(value);
    } catch (error) {
      this.failures.note({ operation: 'get', cause: error instanceof Error ? error.message : String(error) });
      return undefined;
    }
  }

  async put(url: string, certificate: SharedCertificate): Promise<void> {
    const redis = this.redis;
    if (redis === undefined) return;
    const ttlMs = Math.floor(certificate.expiresAt - (this.options.now ?? Date.now)());
    if (ttlMs <= 0) return;
    try {
      await this.withinTimeout(redis.set(this.key(url), JSON.stringify(certificate), 'PX', ttlMs));
    } catch (error) {
      this.failures.note({ operation: 'put', cause: error instanceof Error ? error.message : String(error) });
    }
  }

  /** `command`, or a rejection once the timeout has passed: a slow Redis must not hold an event longer than a download. */
  private async withinTimeout<T>(command: Promise<T>): Promise<T> {
    const timeoutMs = this.options.timeoutMs ?? 250;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([command, timeout]);
    } finally {
      clearTimeout(timer);
      command.catch(() => undefined); // a late failure of the abandoned command is no unhandled rejection
    }
  }

  /** The URL hashed: a custom host's certificate path can be as long as a header, a key need not be. */
  private key(url: string): string {
    return `${this.options.keyPrefix}:${createHash('sha256').update(url).digest('hex')}`;
  }
}

/** The stored JSON, or undefined when it is not what `put` writes (then the certificate is downloaded again). */
function parse(value: string): SharedCertificate | undefined {
  try {
    const parsed = JSON.parse(value) as Partial<SharedCertificate> | null;
    if (typeof parsed?.pem === 'string' && typeof parsed.expiresAt === 'number') return { pem: parsed.pem, expiresAt: parsed.expiresAt };
  } catch {
    // fall through
  }
  return undefined;
}
