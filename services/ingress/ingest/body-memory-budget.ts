import { AppError } from '../../shared/errors/app-error.js';

/**
 * The bytes of webhook bodies an ingress process holds while they arrive, all requests together. MAX_BODY_BYTES and
 * the 30 s request timeout bound one body; nothing bounded many: a gzip body inflates ~1000:1, so a sender that sends
 * ~1 kB of a body and then stalls made the ingress hold 1 MiB for 30 s, per connection (300 connections: resident
 * memory from 139 MB to 450 MB; the chart's limit is 512Mi). A body that would take the process past this budget is
 * refused (503 with Retry-After, outcome `overloaded`) and its connection closed, which frees what it held.
 *
 * A counter and nothing else: the direct path takes from it for every chunk it buffers.
 */
/**
 * What a decoder of a compressed body holds besides its output, taken from the budget before the body is read: zlib's
 * state and 32 KiB window, and its 16 KiB output buffer (brotli's and zstd's windows can be larger, but are allocated
 * as the stream needs them, bounded by what it inflates).
 */
export const DECODER_BYTES = 64 * 1024;

export class BodyMemoryBudget {
  private held = 0;

  constructor(readonly limitBytes: number) {}

  /**
   * The default: `MAX_BODY_BYTES` × `DATABASE_POOL_SIZE` / 2 (10 MiB with the defaults). The ingress stores at most a
   * pool's worth of webhooks at once, so bodies arriving faster than that wait for a connection anyway; half as many
   * bodies of the largest size, all still arriving at the same moment, is far more than normal load holds: webhooks
   * are a few kB (10 MiB is thousands of them mid-body), and a proxy in front (the chart's Ingress) sends a body at
   * network speed, so each is held for a moment only. Small beside the chart's 512Mi, which the process itself
   * needs: 300 stalled connections cost ~40 MB of their own besides what their bodies hold.
   * `concurrency` defaults to DATABASE_POOL_SIZE's default.
   */
  static defaultBytes(maxBodyBytes: number, concurrency = 20): number {
    // At least two compressed bodies of the largest size with their decoders, whatever the pool and however small
    // MAX_BODY_BYTES: one must always fit (with MAX_BODY_BYTES=4096 the budget was 40 KiB, under one decoder's 64 KiB,
    // and every compressed webhook was refused 503 on an idle ingress).
    return Math.max(2 * (maxBodyBytes + DECODER_BYTES), Math.floor((maxBodyBytes * concurrency) / 2));
  }

  /** Holds `bytes` more; false (and nothing held) when that would pass the budget. */
  take(bytes: number): boolean {
    if (this.held + bytes > this.limitBytes) return false;
    this.held += bytes;
    return true;
  }

  /** Gives back `bytes` taken before. */
  release(bytes: number): void {
    this.held -= bytes;
  }

  /** Bytes held now. */
  get heldBytes(): number {
    return this.held;
  }
}

/** A body refused because the process's {@link BodyMemoryBudget} has no room for it now (503 with Retry-After). */
export class BodyBudgetExceededError extends AppError {
  constructor() {
    super('SERVICE_UNAVAILABLE', 'Too many request bodies are being received; retry later');
    this.name = 'BodyBudgetExceededError';
  }
}
