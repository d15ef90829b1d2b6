import { AppError } from '../../shared/errors/app-error.js';

/**
 * What a decoder of a compressed body holds besides its output, taken from the budget before the body is read: zlib's
 * state and 32 KiB window, and its 16 KiB output buffer (brotli's and zstd's windows can be larger, but are allocated
 * as the stream needs them, bounded by what it inflates).
 */
export const DECODER_BYTES = 64 * 1024;

/**
 * The bytes of webhook bodies an ingress process holds while they arrive, all requests together. MAX_BODY_BYTES and
 * the 30 s request timeout bound one body; nothing bounded many: a gzip body inflates ~1000:1, so a sender that sends
 * ~1 kB of a body and then stalls made the ingress hold 1 MiB for 30 s, per connection (300 connections: resident
 * memory from 139 MB to 450 MB; the chart's limit is 512Mi). A body that would take the process past this budget is
 * refused (503 with Retry-After, outcome `overloaded`) and its connection closed, which frees what it held.
 *
 * One client (its budget key: clientBudgetKey, the connecting address and the one TRUST_PROXY resolves) holds at most
 * `perClientBytes` of it. A body is held from its first byte, long before its signature can be checked, so
 * without a share a dozen stalled gzip bodies from one address (~12 kB sent every 30 s) held the whole budget, and
 * every other sender's webhooks, correctly signed, were answered 503 until they timed out.
 *
 * Counters and nothing else: the direct path takes from it for every chunk it buffers but the one that completes a
 * body (read already, and handed on at once: refusing it would free nothing, and stalled bodies from four addresses
 * hold all of the budget).
 */
export class BodyMemoryBudget {
  private held = 0;
  /** Bytes held per client that holds any (deleted at 0): as many entries as bodies arriving at most. */
  private readonly heldBy = new Map<string, number>();

  /** @param perClientBytes what one client may hold of it (default: all of it) */
  constructor(
    readonly limitBytes: number,
    readonly perClientBytes: number = limitBytes,
  ) {}

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

  /** The default budget ({@link defaultBytes}) with the default share per client ({@link defaultClientShare}). */
  static forMaxBodyBytes(maxBodyBytes: number, concurrency?: number): BodyMemoryBudget {
    const limitBytes = BodyMemoryBudget.defaultBytes(maxBodyBytes, concurrency);
    return new BodyMemoryBudget(limitBytes, BodyMemoryBudget.defaultClientShare(limitBytes, maxBodyBytes));
  }

  /**
   * What one client may hold of a budget of `limitBytes` by default: a quarter of it (2.5 MiB with the defaults: a
   * forger must stall bodies from four addresses, or /56 prefixes, to hold all of it), and at least one compressed
   * body of the largest size with its decoder (any client can always send one), never more than the budget.
   */
  static defaultClientShare(limitBytes: number, maxBodyBytes: number): number {
    return Math.min(limitBytes, Math.max(maxBodyBytes + DECODER_BYTES, Math.floor(limitBytes / 4)));
  }

  /**
   * Holds `bytes` more for `client` (a failure-budget key; none: only the whole budget applies); false (and nothing
   * held) when that would pass the budget or the client's share of it.
   */
  take(bytes: number, client?: string): boolean {
    if (this.held + bytes > this.limitBytes) return false;
    if (client !== undefined) {
      const clientHeld = (this.heldBy.get(client) ?? 0) + bytes;
      if (clientHeld > this.perClientBytes) return false;
      this.heldBy.set(client, clientHeld);
    }
    this.held += bytes;
    return true;
  }

  /** Gives back `bytes` taken before for `client` (the same client they were taken for). */
  release(bytes: number, client?: string): void {
    this.held -= bytes;
    if (client === undefined || bytes === 0) return;
    const clientHeld = (this.heldBy.get(client) ?? 0) - bytes;
    if (clientHeld > 0) this.heldBy.set(client, clientHeld);
    else this.heldBy.delete(client);
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
