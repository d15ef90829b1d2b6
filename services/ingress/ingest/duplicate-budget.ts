import { ClientFailureLimiter } from '../../shared/http/client-failure-limiter.js';
import type { ReplayKeyReuse } from '../verification/replay-key.js';
import type { DuplicateRefusal } from './duplicate-budget-spent-error.js';

export interface DuplicateBudgetOptions {
  /** Duplicates one client may be answered per window; its further ones get 429. */
  limit: number;
  windowMs?: number;
  /** Re-sent webhooks remembered at once (default 10,000); past it, the one remembered first is forgotten. */
  maxKnown?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** What makes a verified webhook the same as a stored one (see {@link DuplicateBudget.isKnownResend}). */
export interface WebhookIdentity {
  provider: string;
  externalId: string;
  /** The event's replay key (what the signature covers), when it has one. */
  replayKey?: string;
  /**
   * What a replay key used by another event means (the ReplayKey's `onReuse`). `reject` (a PayPal transmission, which
   * may carry one event, ever): the webhook is remembered, and refused before storing, only as the same delivery
   * re-sent, by its id and replay key together (see {@link deliveryKey}).
   */
  replayKeyOnReuse?: ReplayKeyReuse;
}

const DEFAULT_MAX_KNOWN = 10_000;

/**
 * Duplicates answered per client and minute (keyed like the other webhook budgets: clientBudgetKey). A delivery
 * whose signature covers no timestamp (GitHub, `hmac` providers) verifies for as long as its replay key is kept,
 * so whoever captured one could re-send it at will, each re-send costing PostgreSQL a write and a read before it is
 * answered 200 `duplicate: true`; Stripe's and Standard Webhooks' re-sends within their tolerance window likewise.
 * Past `limit` duplicates in the window, a client's duplicates are answered 429 with Retry-After instead: nothing
 * is lost, the event is stored already. A new event is never refused for it, whoever sends it.
 *
 * The budget is charged when the writer reports `duplicate: true`. The duplicate that spends it, and each one past
 * it (refused after PostgreSQL answered), is remembered for one window (by its id, and by its replay key when a stored
 * event holds that key), and that client's further re-sends of it are refused before PostgreSQL while the client is
 * past its budget: a flood of one captured delivery costs PostgreSQL `limit` writes and reads a window, a flood of k
 * of them `limit` + k. Only webhooks re-sent by clients at or past their budget are remembered (a provider's few
 * retries never are), at most `maxKnown`: a remembered id whose event retention deleted meanwhile is refused for at
 * most a window, and only to a client past its budget.
 *
 * A PayPal webhook (a replay key that binds one event: `replayKeyOnReuse` `reject`) is remembered, and refused before
 * PostgreSQL, only as the same delivery: its event id AND its transmission. PayPal retries an event with a new
 * transmission each time, and storage binds each one to its event (webhook_event_replay_keys): that binding is what
 * refuses another body built to the same CRC32 under the transmission. Matched by its id alone, PayPal's retry from an
 * address past its budget was refused before storage, its transmission never bound, and a body forged under the
 * captured retry was stored as a new event. Nor is another event under a remembered transmission refused here: storage
 * refuses it as a forgery (401), which the failure budget counts. A forger cannot sign a new transmission, so what it
 * re-sends is always a delivery already seen, and stays as cheap to refuse.
 *
 * Kept per process: with several ingress replicas, each counts what it answers, so a client whose requests are spread
 * over N replicas gets up to N × `limit` duplicates a window answered 200.
 */
export class DuplicateBudget {
  /** Duplicates counted per client key in this window (a "failure" of the limiter is a duplicate here). */
  readonly duplicates: ClientFailureLimiter;
  private readonly windowMs: number;
  private readonly maxKnown: number;
  private readonly now: () => number;
  /** Re-sent webhooks (see {@link keysOf}) to when they are forgotten, oldest first (a Map keeps insertion order). */
  private readonly known = new Map<string, number>();

  constructor(options: DuplicateBudgetOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxKnown = options.maxKnown ?? DEFAULT_MAX_KNOWN;
    this.now = options.now ?? Date.now;
    this.duplicates = new ClientFailureLimiter({ limit: options.limit, windowMs: this.windowMs, now: this.now });
  }

  get limit(): number {
    return this.duplicates.limit;
  }

  /**
   * Before the write: whether `webhook` is a re-send remembered this window and its client has spent its budget, so
   * it can be refused without asking PostgreSQL. The client's key is read only for a remembered webhook.
   */
  refusesBeforeStoring(webhook: WebhookIdentity, clientKey: () => string): boolean {
    return this.refusalBeforeStoring(webhook, clientKey) !== undefined;
  }

  /**
   * As {@link refusesBeforeStoring}, and what the refused webhook is: undefined when it is not refused. Remembered by
   * its replay key (a body digest held by a stored event), it is stored already; by its id only, for a provider
   * whose id is unsigned (one with a body-digest replay key), an event is stored under the id, the body unknown.
   */
  refusalBeforeStoring(webhook: WebhookIdentity, clientKey: () => string): DuplicateRefusal | undefined {
    if (this.known.size === 0) return undefined;
    let refusal: DuplicateRefusal | undefined;
    if (bindsOneEvent(webhook)) {
      if (this.isKnown(deliveryKey(webhook))) refusal = 'stored-already';
    } else if (webhook.replayKey !== undefined && this.isKnown(replayKeyKey(webhook.provider, webhook.replayKey))) {
      refusal = 'stored-already';
    } else if (this.isKnown(idKey(webhook))) {
      // A signed id (no replay key: Stripe, Standard Webhooks) names the event; an unsigned one names it only.
      refusal = webhook.replayKey === undefined ? 'stored-already' : 'event-under-id';
    }
    if (refusal === undefined || !this.duplicates.hasSpentBudget(clientKey())) return undefined;
    return refusal;
  }

  /**
   * What a duplicate storage has just reported is, for the 429 of one past its client's budget: a duplicate by its
   * id whose body-digest replay key no stored event holds is another body under that id, stored nowhere.
   */
  refusalAfterStoring(webhook: WebhookIdentity, replayKeyHeld: boolean): DuplicateRefusal {
    return webhook.replayKeyOnReuse === 'duplicate' && !replayKeyHeld ? 'another-body-under-id' : 'stored-already';
  }

  /**
   * After the writer answered `duplicate: true`: counts it against its client, and returns how it stands: `within`
   * (answer 200), `spent` (this one spent the budget: still answered 200, and worth one warn line per client and
   * window) or `over` (answer 429).
   * @param replayKeyHeld whether a stored event (or tombstone) holds the webhook's replay key, so that any webhook with
   *   that key is a duplicate too (a GitHub body re-sent under a new, unsigned, delivery id); not so when the duplicate
   *   matched by id only
   * @param idHeld whether a stored event holds the webhook's id: not so for a duplicate matched by its replay key only
   *   (a captured body re-sent under another, unsigned, delivery id). Remembered by that id, it would refuse the real
   *   event that later comes with it, a new event: an attacker could block any id it can guess.
   */
  recordDuplicate(webhook: WebhookIdentity, replayKeyHeld: boolean, clientKey: string, idHeld = true): 'within' | 'spent' | 'over' {
    const counted = this.duplicates.recordFailure(clientKey);
    if (counted < this.limit) return 'within';
    const forgetAt = this.now() + this.windowMs;
    if (bindsOneEvent(webhook)) {
      // A duplicate by its id: storage has bound the transmission to this event (now, for a retry's first arrival, or
      // before), so a re-send of it is the same delivery whatever `replayKeyHeld` says.
      if (idHeld) this.remember(deliveryKey(webhook), forgetAt);
      return counted === this.limit ? 'spent' : 'over';
    }
    if (idHeld) this.remember(idKey(webhook), forgetAt);
    if (replayKeyHeld && webhook.replayKey !== undefined) this.remember(replayKeyKey(webhook.provider, webhook.replayKey), forgetAt);
    return counted === this.limit ? 'spent' : 'over';
  }

  /** Seconds until the window ends, at least 1 (a Retry-After of 0 reads as "now"). */
  retryAfterSeconds(): number {
    return Math.max(1, this.duplicates.secondsToReset());
  }

  /** Re-sent webhooks remembered now (forgotten ones included until looked up or pushed out). */
  get knownResends(): number {
    return this.known.size;
  }

  private isKnown(key: string): boolean {
    const forgetAt = this.known.get(key);
    if (forgetAt === undefined) return false;
    if (forgetAt > this.now()) return true;
    this.known.delete(key);
    return false;
  }

  private remember(key: string, forgetAt: number): void {
    // Deleted and set again, so the map stays in order of when each was last remembered.
    if (!this.known.delete(key) && this.known.size >= this.maxKnown) this.known.delete(this.known.keys().next().value!);
    this.known.set(key, forgetAt);
  }
}

const idKey = (webhook: WebhookIdentity): string => `i\u0000${webhook.provider}\u0000${webhook.externalId}`;
const replayKeyKey = (provider: string, replayKey: string): string => `r\u0000${provider}\u0000${replayKey}`;
/** One delivery of an event whose replay key binds one event (a PayPal transmission): its id and that key together. */
const deliveryKey = (webhook: WebhookIdentity): string => `d\u0000${webhook.provider}\u0000${webhook.externalId}\u0000${webhook.replayKey ?? ''}`;
const bindsOneEvent = (webhook: WebhookIdentity): boolean => webhook.replayKeyOnReuse === 'reject' && webhook.replayKey !== undefined;
