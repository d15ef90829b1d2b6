import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RedisSlidingWindowRateLimiter, type Redis as LimiterRedis } from 'sliding-window-rate-limiter';
import type { DestinationPauses } from '../../shared/destinations/destination-pauses.js';
import type { Admission, DestinationStateStore } from '../../shared/destinations/destination-state.js';
import { PendingPromotions } from '../../shared/destinations/pending-promotions.js';
import type { Logger } from '../../shared/logging/logger.js';
import { circuitTransitions, type DeferralReason } from '../../shared/metrics/destination-protection-metrics.js';
import type { Destination } from '../routing/route-table.js';
import { circuitOutcome } from './circuit-outcome.js';
import { RoundTripFloor } from './round-trip-floor.js';
import type { DeliveryResult } from './delivery-result.js';

/** Why a delivery waits (`state_unavailable`: Redis, where the state lives, could not be read). */
export type WaitReason = DeferralReason;

/** A delivery that must wait, not be attempted: no request is sent, no attempt is used. */
export class DeliveryDeferred extends Error {
  constructor(
    readonly reason: WaitReason,
    /** The earliest the delivery can go (ms from now), as far as this worker knows. */
    readonly waitMs: number,
    message: string,
  ) {
    super(message);
    this.name = 'DeliveryDeferred';
  }
}

/** May a delivery go? `probeToken` when it is the one probe of a half-open circuit. */
export type GuardAdmission = { go: true; probeToken?: string } | { go: false; deferred: DeliveryDeferred };

/**
 * The rolling window the rate limit counts sends in: a second, and a margin. Requests do not reach the destination
 * exactly as they leave (a new connection, a busy worker or network delay one more than another by tens of ms), and
 * counting sends over exactly one second let up to 30% more than `perSecond` arrive within one second at the
 * destination in tests. Counting them over 1.25 s keeps arrivals within `perSecond` in every rolling second as long as
 * no request is delayed 250 ms more than another (1.1 s, a 100 ms margin, still let 21 of 20 through on a loaded
 * 2-core CI machine); the sustained rate is then perSecond / 1.25.
 */
export const RATE_WINDOW_MS = 1250;

/**
 * How late a rate-limit reservation may be when the request goes, beyond the usual round trip to Redis (the fastest
 * of the recent ones: see RoundTripFloor): an answer that waited longer in a busy event loop is cancelled and asked
 * for again, so a send is never more than this late. The round trip itself is not lateness: counted as such, a Redis
 * 50 ms or more away (another zone, a proxy) had every reservation cancelled, and the destination was sent nothing.
 */
const MAX_RESERVATION_AGE_MS = 50;

export interface DestinationGuardOptions {
  state: DestinationStateStore;
  /** PostgreSQL's record of pauses, copied to Redis when a worker finds no copy there. */
  pauses: DestinationPauses;
  /** The connection the rate limiter's scripts run on (fail-fast: a delivery never hangs on Redis). */
  redis: Redis;
  /** A probe's hold on a half-open circuit: after this long without an answer another delivery may probe. */
  probeLeaseMs: number;
  /**
   * Moves waiting events' jobs forward, the longest-waiting first: every one once a probe closed a circuit, `limit`
   * of them once a probe was freed without deciding (one to probe next).
   */
  promoteWaiting(destination: string, limit?: number): Promise<number>;
  logger: Logger;
}

/**
 * Destination protection as the worker applies it to each delivery, with state shared by every worker in Redis:
 * 1. before a delivery (`admit`): a paused destination, or an open circuit, makes it wait; a circuit whose cooldown
 *    is over lets exactly one delivery through as its probe;
 * 2. once the delivery holds one of the destination's slots, right before it is sent (`beforeSend`): the rate
 *    limit, a sliding log of send times in Redis (at most `perSecond` in any rolling second across every process);
 *    a delivery over it waits;
 * 3. after it (`record`): the outcome counts against the circuit (its failures open it at the threshold, a success
 *    closes it; the probe's failure opens it again for another cooldown, or until a 429's or 503's Retry-After has
 *    passed when that is later, as for the failure that opens it; but a probe the destination answered with a
 *    refusal of its request, an HTTP 4xx or a broker's refusal of the event's own message, closes it: see
 *    circuitOutcome; a probe that failed before anything was sent frees the probe, and the longest-waiting event is
 *    sent for to probe next).
 * Waiting is never an attempt. When Redis cannot be read, deliveries wait (`state_unavailable`): a paused
 * destination must receive nothing, and the queue needs Redis anyway.
 */
export class DestinationGuard {
  private readonly limiter: RedisSlidingWindowRateLimiter;
  private resync?: Promise<unknown>;
  /** The usual round trip of the rate limiter's reservations, which is not counted as their lateness. */
  private readonly reservationRoundTrips = new RoundTripFloor();
  /** Those after a circuit closed, still to come or running. */
  private readonly promotions: PendingPromotions;

  constructor(private readonly options: DestinationGuardOptions) {
    this.promotions = new PendingPromotions({ logger: options.logger });
    this.limiter = new RedisSlidingWindowRateLimiter({ redis: options.redis as LimiterRedis, interval: RATE_WINDOW_MS });
  }

  async admit(destination: Destination): Promise<GuardAdmission> {
    const breaker = destination.policy?.circuitBreaker;
    const token = breaker ? randomUUID() : '';
    try {
      const admission = await this.synced(() => this.options.state.admit(destination.name, breaker ? { probeLeaseMs: this.options.probeLeaseMs, cooldownMs: breaker.cooldownMs } : undefined, token));
      switch (admission.verdict) {
        case 'allow':
          return { go: true };
        case 'probe':
          this.options.logger.info('circuit half-open: probing the destination', { destination: destination.name });
          return { go: true, probeToken: admission.token };
        case 'paused':
          return this.wait('paused', 0, `${destination.name} paused`);
        case 'open':
          return this.wait('circuit_open', admission.waitMs, `${destination.name} circuit open (next probe in ${Math.ceil(admission.waitMs / 1000)} s)`);
        case 'probing':
          return this.wait('circuit_open', admission.waitMs, `${destination.name} circuit half-open (a probe is testing it)`);
      }
    } catch (error) {
      this.options.logger.warn('destination state unreadable; the delivery waits', { destination: destination.name, error });
      return this.wait('state_unavailable', 1000, `${destination.name} state unavailable (Redis)`);
    }
  }

  /**
   * For a delivery that waited for one of the destination's slots, once it holds one, or whose route's transform
   * built its message, once it is built: what {@link admit} allowed may have changed meanwhile (an operator paused
   * the destination, earlier deliveries' failures opened its circuit), and a paused destination must be sent nothing
   * once the pause is acknowledged. Throws {@link DeliveryDeferred} when the delivery must wait after all; the probe
   * (`probeToken`) still goes. Reserves nothing: the rate limit is asked after it, right before the send.
   */
  async recheck(destination: Destination, probeToken: string | undefined): Promise<void> {
    const breaker = destination.policy?.circuitBreaker;
    let verdict: Admission;
    try {
      verdict = await this.synced(() => this.options.state.recheck(destination.name, Boolean(breaker), probeToken ?? '', breaker?.cooldownMs ?? 0));
    } catch (error) {
      this.options.logger.warn('destination state unreadable; the delivery waits', { destination: destination.name, error });
      throw this.wait('state_unavailable', 1000, `${destination.name} state unavailable (Redis)`).deferred;
    }
    switch (verdict.verdict) {
      case 'paused':
        throw this.wait('paused', 0, `${destination.name} paused`).deferred;
      case 'open':
      case 'probing':
        throw this.wait('circuit_open', verdict.waitMs, `${destination.name} circuit ${verdict.verdict === 'open' ? 'open' : 'half-open (a probe is testing it)'}`).deferred;
      default:
        return;
    }
  }

  /**
   * The rate limit, once a slot is held and right before the send: reserves a place in the rolling second or throws
   * {@link DeliveryDeferred} with the time until one frees.
   */
  readonly beforeSend = async (destination: Destination): Promise<void> => {
    const rate = destination.policy?.rateLimit;
    if (!rate) return;
    const key = this.options.state.rateKey(destination.name);
    for (let tries = 0; tries < 3; tries++) {
      const asked = performance.now();
      let reserved: { token?: number; reset?: number };
      try {
        reserved = await this.limiter.reserve(key, rate.perSecond);
      } catch (error) {
        this.options.logger.warn('rate limit unreadable; the delivery waits', { destination: destination.name, error });
        throw this.wait('state_unavailable', 1000, `${destination.name} state unavailable (Redis)`).deferred;
      }
      if (!reserved.token) {
        const waitMs = Math.max(1, reserved.reset ?? RATE_WINDOW_MS);
        throw this.wait('rate_limited', waitMs, `${destination.name} rate limited (${rate.perSecond}/s)`).deferred;
      }
      // The place was taken when Redis ran the script, within this round trip: a reservation that reached a busy
      // event loop late (its round trip longer than the usual one) is given back rather than used late (a late send
      // could bunch with the next second's).
      const roundTripMs = performance.now() - asked;
      if (roundTripMs - this.reservationRoundTrips.add(roundTripMs) <= MAX_RESERVATION_AGE_MS) return;
      await this.limiter.cancel(key, reserved.token).catch(() => undefined);
    }
    throw this.wait('rate_limited', RATE_WINDOW_MS / 10, `${destination.name} rate limited (${rate.perSecond}/s)`).deferred;
  };

  /**
   * Counts an attempted delivery's outcome against the destination's circuit.
   * @returns whether it was the probe and failed: the caller does not count that attempt against the event
   */
  async record(destination: Destination, result: DeliveryResult, probeToken: string | undefined): Promise<{ probeFailed: boolean }> {
    const breaker = destination.policy?.circuitBreaker;
    if (!breaker) return { probeFailed: false };
    const outcome = circuitOutcome(result, probeToken !== undefined);
    if (outcome === 'release' && !probeToken) return { probeFailed: false };
    try {
      // A failure's Retry-After holds the circuit it opens as long as it holds the event's retry (see README).
      const retryAfterMs = outcome === 'failure' ? (result.retryAfterMs ?? 0) : 0;
      const transition = await this.options.state.record(destination.name, outcome, breaker, probeToken, retryAfterMs);
      if (outcome === 'release') this.promoteNextProbe(destination.name);
      if (transition) {
        circuitTransitions.inc({ destination: destination.name, to: transition });
        this.options.logger.warn(`circuit ${transition}`, { destination: destination.name, failureThreshold: breaker.failureThreshold, cooldownMs: breaker.cooldownMs });
        if (transition === 'closed') this.promoteAfterClose(destination.name);
      }
      return { probeFailed: transition === 'reopened' };
    } catch (error) {
      this.options.logger.warn('could not record the outcome against the circuit', { destination: destination.name, error });
      // A probe whose failure could not be recorded still tested a destination that failed: not the event's fault.
      return { probeFailed: probeToken !== undefined && outcome === 'failure' };
    }
  }

  /**
   * For an event put off behind circuits (`waitedFor`: the destinations whose circuit was open or probed when it
   * looked), once its job is in the delayed set: when one of those circuits no longer holds deliveries back (its probe
   * was freed, it closed, its cooldown ended), the job is promoted (`promote`), to go now.
   *
   * The probe's holder, as it frees the probe or closes the circuit, promotes the waiting events whose jobs it finds
   * delayed. An event that had found the probe taken, and whose job was still on its way to the delayed set then (its
   * end written, its job not yet moved), was not promoted: it waited out its whole planned delay (the probe's lease or
   * the cooldown, and a spread) with the probe free. Checked once the job is delayed, either the holder's promotion
   * found the job delayed, or this check finds what the holder did. A failure is only logged: the job comes back at
   * its planned time, as before.
   */
  async promoteIfProbeFree(waitedFor: Destination[], promote: () => Promise<boolean>): Promise<void> {
    for (const destination of waitedFor) {
      if (!destination.policy?.circuitBreaker) continue;
      try {
        if (!(await this.options.state.probeFree(destination.name))) continue;
        if (await promote()) {
          this.options.logger.info('circuit probe freed while the event was put off behind it: its job is promoted', { destination: destination.name });
        }
      } catch (error) {
        this.options.logger.warn('could not check whether the circuit an event waits for was freed meanwhile; it waits its planned time', { destination: destination.name, error });
      }
      return;
    }
  }

  /**
   * For an event put off by pauses (`waitedFor`: the destinations it found paused), once its job is in the delayed
   * set: when one of them is no longer paused, the job is promoted (`promote`), to go now rather than at the paused
   * recheck (minutes).
   *
   * A resume promotes the waiting events whose jobs it finds delayed, at once and a moment later. An event whose run
   * found the destination paused and was still busy then (another destination's slow answer, a wait for a slot, a
   * transform) was not promoted: not PENDING yet, its job not delayed. Checked once the job is delayed, either a
   * promotion of the resume found the job delayed, or this check finds the resume. Not promoted when Redis holds no
   * copy of the pauses (it cannot tell; the job comes back at its time). A failure is only logged, as above.
   * @returns whether the job was promoted
   */
  async promoteIfResumed(waitedFor: Destination[], promote: () => Promise<boolean>): Promise<boolean> {
    for (const destination of waitedFor) {
      try {
        if ((await this.options.state.isPaused(destination.name)) !== false) continue;
        if (!(await promote())) return false;
        this.options.logger.info('destination resumed while the event was put off by its pause: its job is promoted', { destination: destination.name });
        return true;
      } catch (error) {
        this.options.logger.warn('could not check whether the destination an event waits for was resumed meanwhile; it waits its planned time', { destination: destination.name, error });
        return false;
      }
    }
    return false;
  }

  /** A probe admitted but not sent (it had to wait for the rate limit): another delivery may probe at once. */
  async releaseProbe(destination: Destination, probeToken: string): Promise<void> {
    const breaker = destination.policy?.circuitBreaker;
    if (!breaker) return;
    await this.options.state.record(destination.name, 'release', breaker, probeToken).catch(() => undefined);
  }

  /**
   * Runs a read of the destination state; when Redis holds no copy of the paused set (a new or emptied Redis), copies
   * it from PostgreSQL once (concurrent deliveries share the copy) and reads again.
   */
  private async synced(read: () => Promise<Admission | 'unsynced'>): Promise<Admission> {
    let admission = await read();
    if (admission === 'unsynced') {
      this.resync ??= this.options.pauses.syncToRedis().finally(() => (this.resync = undefined));
      await this.resync;
      admission = await read();
      if (admission === 'unsynced') throw new Error('the paused set could not be copied to Redis');
    }
    return admission;
  }

  /** A wait; the caller counts it (webhook_destination_deferred_total), once per delivery put off, not per recheck. */
  private wait(reason: WaitReason, waitMs: number, message: string): { go: false; deferred: DeliveryDeferred } {
    return { go: false, deferred: new DeliveryDeferred(reason, waitMs, message) };
  }

  /**
   * Waiting events' jobs are promoted now and once more a moment later: a job that was deferring while the circuit
   * closed went back to the delayed set after the first pass. A pass that fails is logged and tried again by
   * {@link PendingPromotions}.
   */
  private promoteAfterClose(name: string): void {
    const promote = () =>
      this.options
        .promoteWaiting(name)
        .then((promoted) => promoted > 0 && this.options.logger.info('circuit closed: waiting events promoted', { destination: name, promoted }));
    this.promotions.add(promote, 0, { destination: name });
    this.promotions.add(promote, 2000, { destination: name });
  }

  /**
   * After a probe that learnt nothing of the destination (its event failed before anything was sent: a transform, a
   * limit or an address checked before sending): the circuit stays half-open with its probe free, and the events
   * waiting behind it come back only at their planned time (a cooldown and a spread of up to 5 minutes). The
   * longest-waiting one is promoted to probe now; only one, as a probe is one delivery (the rest would wait again).
   * Not after a probe freed because it was not sent at all (rate limit, worker stopping, claim lost): its own event
   * comes back soon and probes.
   */
  private promoteNextProbe(name: string): void {
    const promote = () =>
      this.options
        .promoteWaiting(name, 1)
        .then((promoted) => promoted > 0 && this.options.logger.info('circuit half-open: the probe learnt nothing (its event failed before anything was sent); the longest-waiting event probes next', { destination: name }));
    this.promotions.add(promote, 0, { destination: name });
  }

  /** Waits for the promotions after a circuit closed (the later one at its time) or a probe was freed: a drain, before the pool and Redis close. */
  close(): Promise<void> {
    return this.promotions.settle();
  }
}
