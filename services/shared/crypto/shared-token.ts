import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * A configured shared secret (ADMIN_API_TOKEN, PRESTOP_TOKEN) that requests must present. Both sides are hashed to
 * equal-length digests before a constant-time comparison, so neither the token's length nor a prefix of it leaks
 * through timing; a missing value is compared too, so every refusal costs the same.
 */
export class SharedToken {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  /** Whether `supplied` (undefined when the request carried none) is the token. */
  matches(supplied: string | undefined): boolean {
    return timingSafeEqual(digest(supplied ?? ''), this.expected) && supplied !== undefined;
  }
}
