import type { ClaimedEvent, ProcessingStore } from './processing-store.js';

/** What one delivery of a claim tells the claim's {@link ClaimWaitMark} as it goes. */
export interface MarkedDelivery {
  /** It found no free slot and starts waiting for one (run synchronously, nothing sent yet). */
  waits(): void;
  /**
   * It holds its slot and is about to send: whether the claim still holds the event. Asked (one statement, which
   * clears the mark) when `confirm` (the caller's reason: it comes late after its claim) or when the claim's mark may
   * be set, so the mark is never left set under a send; otherwise no statement is sent and the answer is yes, once the
   * claim's statements queued before it landed (a clear another delivery queued lands before this one sends).
   */
  sends(confirm: boolean): Promise<boolean>;
  /**
   * It ended. `used`: it made an attempt (sent, with whatever answer, or failed where the worker built the message);
   * not: put off (paused, circuit open, rate limited), filtered out, not started by a stopping worker, claim lost.
   */
  ended(used: boolean): void;
}

/**
 * One claim's `webhook_events.claim_waiting` mark: set while the claim has sent nothing and every one of its
 * deliveries still running waits for its destination's slot (`maxConcurrency`), cleared as soon as one of them goes on
 * to send. A worker killed (SIGKILL, OOM) while the mark is set made no attempt, and the claim that takes the event
 * over next counts none (see processing-store.ts); a drain gives such an attempt back itself, a kill could not, and
 * each kill used one of the event's JOB_ATTEMPTS.
 *
 * The deliveries of one claim run concurrently, so their statements (mark, confirm-and-clear) go one after the other
 * in the order they were decided: a mark decided before a confirm lands before it, and none is decided while a
 * delivery holds its slot or after one made an attempt. A delivery about to send sends no statement of its own, unless
 * the mark may be set (it clears it, confirming the claim) or it comes late after its claim (it confirms the claim
 * then: see EventProcessor's claimHooks).
 * Best effort: a mark that fails leaves the event unmarked, and a kill then counts the attempt, as it always did.
 */
export class ClaimWaitMark {
  private running: number;
  private waiting = 0;
  /** A delivery of this claim made an attempt: the claim used one, whatever comes next. */
  private used = false;
  /** What the statements queued so far leave: the mark set (a mark last) or cleared (a confirm last, or none yet). */
  private marked = false;
  private statements: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Pick<ProcessingStore, 'markWaiting' | 'stillHolds'>,
    private readonly event: ClaimedEvent,
    deliveries: number,
  ) {
    this.running = deliveries;
  }

  /** The tracker of one of the claim's deliveries (one per delivery counted in the constructor). */
  delivery(): MarkedDelivery {
    let waiting = false;
    let ended = false;
    return {
      waits: () => {
        if (waiting || ended) return;
        waiting = true;
        this.waiting++;
        this.decide();
      },
      sends: (confirm) => {
        if (waiting) {
          waiting = false;
          this.waiting--;
        }
        if (!confirm && !this.marked) return this.inOrder(async () => true);
        // The confirm clears the mark where it is set: after it, the mark is off until decided again.
        this.marked = false;
        return this.inOrder(() => this.store.stillHolds(this.event));
      },
      ended: (used) => {
        if (ended) return;
        ended = true;
        if (waiting) {
          waiting = false;
          this.waiting--;
        }
        this.running--;
        if (used) this.used = true;
        this.decide();
      },
    };
  }

  private decide(): void {
    const onlyWaiting = !this.used && this.running > 0 && this.waiting === this.running;
    if (!onlyWaiting || this.marked) return;
    this.marked = true;
    this.inOrder(() => this.store.markWaiting(this.event)).catch(() => undefined);
  }

  private inOrder<T>(statement: () => Promise<T>): Promise<T> {
    const result = this.statements.then(statement);
    this.statements = result.catch(() => undefined);
    return result;
  }
}
