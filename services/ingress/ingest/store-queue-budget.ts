import { DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_CONCURRENT_FLUSHES } from './event-writer.js';

/**
 * What a verified webhook waiting to be stored is charged besides its body: its request and response objects, the
 * socket's buffers and the promises and closures of its way through the writer. A round figure, so that many tiny
 * webhooks are bounded as well as a few large ones (the bound is a count too: at most limit / 4 KiB webhooks).
 */
export const WEBHOOK_OVERHEAD_BYTES = 4 * 1024;

/**
 * The bytes of verified webhooks handed to the EventWriter and not yet answered (queued for a batch, or in one), all
 * requests together. Each is charged its raw body plus {@link WEBHOOK_OVERHEAD_BYTES}; the payload parsed from the
 * body comes on top of that (a few times a JSON body's size), so what the process holds for them is a small multiple
 * of the bound, never more. The body budget (BodyMemoryBudget) bounds bodies still arriving; once a body has arrived
 * it no longer counts there, and without this bound webhooks kept arriving into the writer's queue for as long as
 * PostgreSQL was silent (it drains at 4 flushes × 200 events per 3 s connection timeout then, ~266/s): a memory
 * spike that could take the pod past its limit, and answers that came later and later. A webhook the bound has no
 * room for is refused at once (503 with Retry-After, outcome `overloaded`), before it is queued.
 *
 * Counters and nothing else: the writer takes a webhook's charge when it is submitted and gives it back when its
 * write resolves, either way.
 */
export class StoreQueueBudget {
  private held = 0;

  constructor(readonly limitBytes: number) {}

  /**
   * The default: `MAX_BODY_BYTES` × `DATABASE_POOL_SIZE` / 2 (10 MiB with the defaults), the body budget's own size:
   * everything the body budget can hold arriving at once still fits. Normal load holds far less: a healthy writer
   * stores a batch in a few milliseconds, so what waits is the webhooks of one round trip (at 5,000 webhooks/s of
   * 4 kB, ~40 of them: ~0.3 MiB). At least two rounds of the writer's batches of small webhooks (2 × 4 × 200 ×
   * 4 KiB = 6.25 MiB: a small MAX_BODY_BYTES must not make the bound a handful of webhooks, refused under normal
   * load), and at least two webhooks of the largest size (an idle ingress always takes one).
   * `poolSize` defaults to DATABASE_POOL_SIZE's default.
   */
  static defaultBytes(maxBodyBytes: number, poolSize = 20): number {
    const writerRound = DEFAULT_MAX_CONCURRENT_FLUSHES * DEFAULT_MAX_BATCH_SIZE;
    return Math.max(
      Math.floor((maxBodyBytes * poolSize) / 2),
      2 * writerRound * WEBHOOK_OVERHEAD_BYTES,
      2 * (maxBodyBytes + WEBHOOK_OVERHEAD_BYTES),
    );
  }

  /** What a webhook whose raw body has `bodyBytes` is charged. */
  chargeOf(bodyBytes: number): number {
    return bodyBytes + WEBHOOK_OVERHEAD_BYTES;
  }

  /** Holds `bytes` more; false (and nothing held) when that would pass the bound. */
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
