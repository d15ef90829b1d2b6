import { randomUUID } from 'node:crypto';
import { context as otelContext, propagation, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { redactSecretValuesIn, type Logger } from '../../shared/logging/logger.js';
import { bidiIsolated } from '../../shared/text/bidi-isolated.js';
import { currentContext } from '../../shared/logging/request-context.js';
import { traceIdOf } from '../../shared/telemetry/stored-traceparent.js';
import { destinationDeferrals } from '../../shared/metrics/destination-protection-metrics.js';
import { deliveryAttempts, deliveryDuration, eventsProcessed, processingDuration } from '../../shared/metrics/metrics.js';
import type { BrokerDeliverers } from '../delivery/broker-publishers.js';
import type { Deliverer, DeliveryHooks, OutgoingMessage } from '../delivery/deliverer.js';
import type { DeliveryResult } from '../delivery/delivery-result.js';
import { errorText } from '../delivery/error-text.js';
import { DeliveryDeferred, RATE_WINDOW_MS, type DestinationGuard } from '../delivery/destination-guard.js';
import type { HttpForwarder } from '../delivery/http-forwarder.js';
import { withoutCredentials } from '../delivery/url-without-credentials.js';
import { WorkerStoppingError } from '../delivery/worker-stopping-error.js';
import type { RouteFilterInput } from '../routing/route-filter.js';
import type { RouteInput, RouteInputSource } from '../routing/route-input-reader.js';
import type { CompiledRoute, Destination, RoutedDestination, RouteTable } from '../routing/route-table.js';
import { RouteTransformError } from '../routing/route-transform.js';
import { destinationType } from '../routing/routes-file.js';
import type { ClaimHeartbeat } from './claim-heartbeat.js';
import { ClaimLostError } from './claim-lost-error.js';
import { DatabaseAwayError, tagDatabaseAway } from './database-away-error.js';
import { ClaimWaitMark, type MarkedDelivery } from './claim-wait-mark.js';
import { DeliveryFailedError, EventWaitingError, type OnceDelayed } from './delivery-failed-error.js';
import type { EventHandler, EventHandlerRegistry, HandledEvent } from './event-handlers.js';
import { WORKER_STOPPED_LAST_ATTEMPT, type ClaimedEvent, type FinishedStatus, type ProcessingStore } from './processing-store.js';
import { claimIdentity, recordedOrCarried, RunNotRecordedError, type ClaimIdentity, type RunEnd, type UnrecordedRun, type WorkerJobData } from './unrecorded-run.js';

export interface EventProcessorOptions {
  store: ProcessingStore;
  routes: RouteTable;
  handlers: EventHandlerRegistry;
  /** Delivers to `http` destinations. */
  forwarder: HttpForwarder;
  /** Deliver to `amqp` and `nats` destinations; a destination whose type has none here is a failed attempt. */
  publishers?: BrokerDeliverers;
  /**
   * Reads the payload and kept headers for route filters and transforms (and handlers). Without it the store's
   * payload is read and filters see no headers (tests that build a processor directly).
   */
  routeInputs?: RouteInputSource;
  /** Attempts in total (JOB_ATTEMPTS); the event is DEAD_LETTER after the last. */
  maxAttempts: number;
  logger: Logger;
  /** Pause, circuit breaker and rate limit (shared state in Redis); without it every delivery goes at once. */
  guard?: DestinationGuard;
  /** Keeps the claims of runs in progress alive (`claim_heartbeat_at`); without it a run's claim time alone counts. */
  heartbeat?: ClaimHeartbeat;
  /**
   * A delivery about to be sent this long (ms) after its claim was asked confirms the claim first, whatever it
   * waited for (see claimHooks): half the live-claim window (claim-heartbeat.ts), so that a delivery sent sooner than
   * this cannot have lost its event to another claim, which leaves a claim younger than the window alone. Required:
   * it is the only thing that confirms a claim lost in a stall (a slot wait, a transform, the event loop blocked).
   */
  confirmClaimAfterMs: number;
}

/**
 * How long an event waiting for a paused destination waits before it looks again. Resume promotes the waiting
 * events at once; this only bounds the wait should that promotion not reach one (its job was running meanwhile, the
 * ingress stopped half-way), at one claim per waiting event per period.
 */
export const PAUSED_RECHECK_MS = 300_000;

/** The first wait of a job whose run threw after only waiting for slots (see EventProcessor.givenBackWait). */
export const GIVEN_BACK_WAIT_MS = 1000;

/** The longest an event behind an open circuit stays away (a probe that closes the circuit promotes it sooner). */
export const MAX_CIRCUIT_SPREAD_MS = 300_000;

/** A destination this attempt did not deliver to because it must wait (paused, circuit open, rate limited). */
interface Waiting {
  destination: Destination;
  deferred: DeliveryDeferred;
}

/**
 * A destination this attempt did not deliver to because the worker is stopping (it held no slot yet): nothing was
 * sent, and the event goes back to the queue at once for the next worker, no attempt used.
 */
interface NotStarted {
  destination: Destination;
  notStarted: WorkerStoppingError;
}

/**
 * A delivery that confirmed its claim once it held its slot (late after the claim, or clearing its waiting mark) and
 * found it gone: nothing was sent, another run holds the event (see {@link ClaimLostError}).
 */
interface ClaimLost {
  destination: Destination;
  lost: ClaimLostError;
}

/**
 * A destination (or handler) this attempt did not deliver to because PostgreSQL, unavailable past the reconnects,
 * did not answer a statement the delivery needs before it sends (see {@link DatabaseAwayError}): nothing was sent, so
 * no attempt is used; the event waits for the database, as a run whose claim or finish PostgreSQL did not take does.
 */
interface DatabaseAway {
  destination: string;
  away: DatabaseAwayError;
}

/** An attempted delivery; `probeFailed`: it was a half-open circuit's probe and failed (not counted against the event). */
type Attempted = DeliveryResult & { probeFailed?: boolean };

/** What a claimed run has done so far: what its release records should it throw before writing its end (see releaseClaim). */
interface RunSoFar {
  /** Its deliveries that ended in an attempt (sent, with whatever answer, or failed where the worker built the message). */
  attempted: Attempted[];
  /** Every destination left to it took the event: the run was ending it COMPLETED. */
  delivered: boolean;
}

/** What a delivery runs around its steps: the deliverer's hooks, and one between the route's transform and the deliverer. */
interface RouteDeliveryHooks extends DeliveryHooks {
  /**
   * Run once the route's transform built the message, before it goes to the deliverer (a delivery without a
   * transform runs none): the caller checks again what let the delivery go; when it throws, nothing is sent and the
   * error is the caller's.
   */
  afterTransform?: () => Promise<void>;
}

/** How one destination's delivery of an attempt ended. */
type Outcome = Attempted | Waiting | NotStarted | ClaimLost | DatabaseAway;

const isWaiting = (outcome: Outcome): outcome is Waiting => 'deferred' in outcome;
const isNotStarted = (outcome: Outcome): outcome is NotStarted => 'notStarted' in outcome;
const isClaimLost = (outcome: Outcome): outcome is ClaimLost => 'lost' in outcome;
const isDatabaseAway = (outcome: Outcome): outcome is DatabaseAway => 'away' in outcome;
const isAttempted = (outcome: Outcome): outcome is Attempted => !isWaiting(outcome) && !isNotStarted(outcome) && !isClaimLost(outcome) && !isDatabaseAway(outcome);

/**
 * An attempt's error text is kept in PostgreSQL (shown by the console and the admin API) and, through lastError (built
 * only from these texts and destination names), in the failed job in Redis: a configured secret in it (a destination
 * echoing its credentials, a broker naming its URL) is redacted once, as in a log line, as the attempt settles.
 */
const redacted = (outcome: Outcome): Outcome => (isAttempted(outcome) && outcome.error ? { ...outcome, error: redactSecretValuesIn(outcome.error) } : outcome);

export type ProcessOutcome = 'completed' | 'skipped';

const tracer = trace.getTracer('event-driven-integration-service/worker');

/**
 * One processing attempt of one event: claim it (PENDING/FAILED → PROCESSING), deliver it to every routed
 * destination that has not taken it yet, record each attempt, and end COMPLETED, FAILED (retry) or DEAD_LETTER.
 */
export class EventProcessor {
  /**
   * When each run's claim was asked (performance.now()), for {@link EventProcessorOptions.confirmClaimAfterMs}: no
   * later than PostgreSQL wrote it (every send of the claim writes its heartbeat then), so the age counted from here is
   * never less than the age another claim sees.
   */
  private readonly claimAsked = new WeakMap<ClaimedEvent, number>();

  constructor(private readonly options: EventProcessorOptions) {}

  /**
   * @param previousWaits how many times this job already waited (spreads rate-limited retries further each time)
   * @returns 'skipped' when the job's run did not hold the event: finished or in another round when it came to claim
   *   it, or claimed again or replayed before its finish (which then records nothing)
   * @throws {DeliveryFailedError} when a destination failed; `final` tells whether the event is dead-lettered.
   * @throws {EventWaitingError} when the destinations left must wait (no attempt used); the job waits `waitMs`.
   * @throws the run's own error when it failed before writing its end and its claim could not be released (see
   *   releaseClaim; a released claim is reported as a failed attempt, {@link DeliveryFailedError}, or as a wait,
   *   {@link EventWaitingError}, when the run had only waited for slots)
   */
  async process(job: WorkerJobData, previousWaits = 0): Promise<ProcessOutcome> {
    const parent: Context = job.traceparent
      ? propagation.extract(otelContext.active(), { traceparent: job.traceparent, tracestate: job.tracestate ?? '' })
      : otelContext.active();
    return tracer.startActiveSpan('webhook.process', { attributes: { 'webhook.event_id': job.eventId } }, parent, async (span) => {
      try {
        return await this.run(job, previousWaits);
      } catch (error) {
        // A wait (paused, over the rate limit, circuit open) is not a failure: nothing was sent, no attempt used. An
        // ERROR status would show it as a failing trace and count it in error rates derived from span status.
        if (error instanceof EventWaitingError) span.setAttribute('webhook.waiting', error.message);
        else span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  private async run(job: WorkerJobData, previousWaits: number): Promise<ProcessOutcome> {
    const { store, logger } = this.options;
    const started = performance.now();
    const carried = job.unrecorded;
    // An earlier run of this job whose claim was not answered: this one claims with its token (see UnrecordedRun).
    const token = carried && !carried.finish ? carried.claimToken : randomUUID();
    if (carried?.finish && carried.end) {
      const ended = await this.endOfEarlierRun({ ...carried, finish: carried.finish, end: carried.end }, token);
      if (ended) return ended;
    }
    const asked = performance.now();
    const event = await recordedOrCarried(store.claim(job.eventId, job.replays ?? 0, this.options.maxAttempts, token), () => ({ claimToken: token }));
    if (!event) {
      const replays = job.replays ?? 0;
      // Rare (a duplicate or stale job): the one read that tells the two apart goes only here.
      if (await store.heldByLiveRun(job.eventId, replays, token).catch(() => false)) {
        logger.info("event held by another claim's live run (its claim or heartbeat is recent), which ends it; duplicate job skipped", {
          eventId: job.eventId,
          replays,
        });
      } else {
        logger.info('event already finished or replayed since; stale job skipped', { eventId: job.eventId, replays });
      }
      return 'skipped';
    }
    // Not when it was answered: a worker that stalled as the answer came in had its claim age meanwhile (found with
    // claim-confirmed-after-transform: a plain forward looked on time and sent an event another run had taken; and
    // with claim-heartbeat: the heartbeat, due an interval after the answer, let another claim take the live run over).
    this.claimAsked.set(event, asked);
    const untrack = this.options.heartbeat?.track(event.id, event.claimToken, asked);
    // A run that throws after some deliveries took the event records them with its release, so its retry does not
    // send them again.
    const soFar: RunSoFar = { attempted: [], delivered: false };
    try {
      return await this.runClaimed(event, previousWaits, started, soFar);
    } catch (error) {
      if (endWrittenOrCarried(error)) throw error;
      return await this.releaseClaim(event, error, previousWaits, soFar);
    } finally {
      untrack?.();
    }
  }

  /**
   * The run threw before it wrote its end (an unexpected error in the worker's own code or from a destination
   * adapter): its claim is released (ProcessingStore.releaseClaim), so that the job's retry claims the event at once
   * instead of meeting this run's claim and heartbeat, still fresh, and leaving the event to the reconciler. The
   * attempt is then reported as the failed attempt it was recorded as (metric, log line, {@link DeliveryFailedError}:
   * BullMQ retries it after its backoff, or not when final). The deliveries of the run that ended in an attempt
   * (`soFar.attempted`: those that settled before or beside the one that threw, or all of them when the finish threw)
   * are recorded with the release, as a finish records them: the retry sends only to the destinations that did not
   * take the event. Before, the release recorded none, and the retry sent a second time to every destination this run
   * had delivered to. A run whose every destination left took the event (`soFar.delivered`: its finish threw) is
   * released COMPLETED, as that finish would have ended it: FAILED, its retry would only have found nothing left to
   * send, and on the last attempt it was dead-lettered, every destination having taken it. A run that had only waited for its destinations' slots is given back (PENDING, no attempt counted)
   * and waits like any run that only waited ({@link EventWaitingError}, {@link givenBackWait}), without using one of
   * BullMQ's attempts either. When the release is not written (PostgreSQL unavailable, or the claim no longer this
   * run's), the error goes on as it was: the job's retry, or the reconciler, takes the event up as before.
   */
  private async releaseClaim(event: ClaimedEvent, error: unknown, previousWaits: number, soFar: RunSoFar): Promise<ProcessOutcome> {
    const { store, logger, maxAttempts } = this.options;
    const fields = { eventId: event.id, provider: event.provider, attempt: event.attempts };
    const final = event.attempts >= maxAttempts;
    const lastError = redactSecretValuesIn(`the run failed inside the worker: ${describeError(error)}`).slice(0, 2000);
    let status: FinishedStatus | undefined;
    try {
      status = await store.releaseClaim(claimIdentity(event), { final, completed: soFar.delivered }, lastError, soFar.attempted);
    } catch (releaseError) {
      logger.error('run failed inside the worker; its claim could not be released, so the event is taken up again once its claim is stale', {
        ...fields,
        error,
        releaseError,
      });
      throw error;
    }
    if (status === undefined) {
      // Not this run's claim any more: the run holding the event now ends it, and this job's retry finds it so.
      logger.error('run failed inside the worker', { ...fields, released: false, error });
      throw error;
    }
    if (status === 'PENDING') {
      // Given back (it had sent nothing): PostgreSQL counted no attempt, so BullMQ must not either. Before, the error
      // went to BullMQ, which counted one: its count ran ahead of the event's, and the job's last attempt by BullMQ's
      // count, then taken for the event's last, dead-lettered it with attempts left; were it BullMQ's last already, the job
      // failed for good and the PENDING event was left without one until the reconciler found it.
      const waitMs = this.givenBackWait(previousWaits);
      logger.error('run failed inside the worker; it had only waited for slots, so its attempt is given back and the job waits', { ...fields, waitMs, error });
      throw new EventWaitingError(lastError, waitMs);
    }
    if (status === 'COMPLETED') {
      logger.error('run failed inside the worker after every destination took the event; released as completed', { ...fields, error });
      return this.reportEnd(claimIdentity(event), { status, lastError: null, results: soFar.attempted, giveBackAttempt: false, heldFor: [] });
    }
    logger.error('run failed inside the worker; its claim is released for the retry', { ...fields, status, error });
    return this.reportEnd(claimIdentity(event), { status, lastError, results: soFar.attempted, giveBackAttempt: false, heldFor: [] });
  }

  /** The run of a claim this job made: see {@link run}. */
  private async runClaimed(event: ClaimedEvent, previousWaits: number, started: number, soFar: RunSoFar): Promise<ProcessOutcome> {
    const { logger } = this.options;
    // The job's log lines carry the request's correlation id and trace id, so they join its ingress lines.
    const logContext = currentContext();
    if (logContext) {
      if (event.correlationId) logContext.correlationId = event.correlationId;
      logContext.traceId ??= traceIdOf(event.traceparent);
    }
    const span = trace.getActiveSpan();
    span?.setAttributes({ 'webhook.provider': event.provider, 'webhook.event_type': event.eventType, 'webhook.attempt': event.attempts });
    if (event.deadLettered) return this.lastAttemptCutOff(event);

    const outcomes = await this.deliver(event, soFar.attempted);
    const lost = outcomes.filter(isClaimLost);
    if (lost.length > 0) {
      // The worker stalled past its job's lock while these deliveries waited for a slot or their transform; the run
      // holding the event now delivers it. Nothing is recorded and nothing finished (its finish would be refused): the
      // job ends quietly.
      logger.info('claim taken over while deliveries waited for a slot or their transform; they were not sent, the run holding the event delivers it', {
        eventId: event.id,
        attempt: event.attempts,
        notSent: lost.map((l) => l.destination.name),
        sent: outcomes.length - lost.length,
      });
      return 'skipped';
    }
    const results: Attempted[] = [];
    const waiting: Waiting[] = [];
    const notStarted: NotStarted[] = [];
    const away: DatabaseAway[] = [];
    for (const outcome of outcomes) {
      if (isWaiting(outcome)) waiting.push(outcome);
      else if (isNotStarted(outcome)) notStarted.push(outcome);
      else if (isDatabaseAway(outcome)) away.push(outcome);
      else if (isClaimLost(outcome)) continue; // returned above
      else results.push(outcome); // its error text redacted (deliver)
    }
    const failures = results.filter((result) => !result.succeeded);
    // A failed probe of a half-open circuit tested the destination, not the event: it waits like the others.
    const counted = failures.filter((result) => !result.probeFailed);
    processingDuration.observe({ provider: event.provider }, (performance.now() - started) / 1000);

    if (failures.length === 0 && waiting.length === 0 && notStarted.length === 0 && away.length === 0) {
      soFar.delivered = true;
      return this.finishRun(event, { status: 'COMPLETED', lastError: null, results, giveBackAttempt: false, heldFor: [] });
    }

    // A destination this run could not reach for the database (DatabaseAway: a filter's read fails before admission)
    // keeps the hold the event had on it: dropped, its waiting-since time started again and its next put-off counted
    // as a new deferral.
    const heldFor = [
      ...new Set([
        ...waiting.map((w) => w.destination.name),
        ...failures.filter((f) => f.probeFailed).map((f) => f.destination),
        ...away.filter((a) => event.heldFor.includes(a.destination)).map((a) => a.destination),
      ]),
    ];
    const waits = [
      ...waiting.map((w) => w.deferred.message),
      ...failures.filter((f) => f.probeFailed).map((f) => `${f.destination} circuit reopened by a failed probe (${bidiIsolated(f.error)})`),
      ...notStarted.map((n) => n.notStarted.message),
      ...away.map((a) => `${a.destination}: not sent (${a.away.message})`),
    ];
    const waitingNote = waits.length > 0 ? `waiting: ${waits.join('; ')}` : '';

    if (counted.length === 0) {
      // Nothing failed that counts: the attempt is given back and the job waits, without using one of BullMQ's either.
      // A delivery the stopping worker did not start is not held by its destination (heldFor): it goes back to the
      // queue at once, for the next worker to take as soon as it runs. One PostgreSQL did not let go (DatabaseAway)
      // is not held by its destination either: this finish landed, so the database answers again, but it may come
      // and go, and a run that counts no attempt goes again after a pause, not at once: about a second, as the
      // worker's own wait for the database (JOB_BACKOFF_MS's default), not growing with the job's earlier waits
      // (givenBackWait's): those of an outage were many, and the event would then wait minutes once it is over.
      const waitMs =
        notStarted.length > 0
          ? 0
          : Math.min(
              ...waiting.map((w) => this.plannedWait(w, previousWaits)),
              ...(failures.some((f) => f.probeFailed) ? [this.reopenedWait(failures, previousWaits)] : []),
              ...(away.length > 0 ? [GIVEN_BACK_WAIT_MS * (0.8 + Math.random() * 0.4)] : []),
            );
      const notStartedNames = notStarted.map((n) => n.destination.name);
      const awayNames = away.map((a) => a.destination);
      // Behind a circuit's probe, or a pause: freed or resumed while the job was on its way to the delayed set, it
      // would not wake the job.
      const behindCircuits = waiting.filter((w) => w.deferred.reason === 'circuit_open').map((w) => w.destination);
      const behindPauses = waiting.filter((w) => w.deferred.reason === 'paused').map((w) => w.destination);
      const { guard } = this.options;
      const onceDelayed: OnceDelayed | undefined =
        guard && (behindCircuits.length > 0 || behindPauses.length > 0) && waitMs > 0
          ? async (promote) => {
              if (!(await guard.promoteIfResumed(behindPauses, promote))) await guard.promoteIfProbeFree(behindCircuits, promote);
            }
          : undefined;
      return this.finishRun(
        event,
        {
          status: 'PENDING',
          lastError: waitingNote.slice(0, 2000),
          results,
          giveBackAttempt: true,
          heldFor,
          waitMs,
          ...(notStartedNames.length > 0 ? { notStarted: notStartedNames } : {}),
          ...(awayNames.length > 0 ? { databaseAway: awayNames } : {}),
        },
        onceDelayed,
      );
    }

    // Each destination's error isolated: direction characters in one answer cannot reorder the rest of the line.
    const lastError = [counted.map((f) => `${f.destination}: ${bidiIsolated(f.error)}`).join('; '), waitingNote].filter(Boolean).join('; ').slice(0, 2000);
    const final = event.attempts >= this.options.maxAttempts;
    // The latest Retry-After of this attempt's answers: the next attempt is not made before it.
    const retryAfters = counted.flatMap((f) => (f.retryAfterMs === undefined ? [] : [f.retryAfterMs]));
    return this.finishRun(event, {
      status: final ? 'DEAD_LETTER' : 'FAILED',
      lastError,
      results,
      giveBackAttempt: false,
      heldFor: final ? [] : heldFor,
      ...(retryAfters.length > 0 ? { retryAfterMs: Math.max(...retryAfters) } : {}),
    });
  }

  /**
   * Writes the run's end and reports it; 'skipped' when the finish did not land (the event moved on). A finish that
   * PostgreSQL did not take (unreachable past the reconnects) is not forgotten: a RunNotRecordedError carries it
   * to the job's next run, which writes it before anything else.
   */
  private async finishRun(event: ClaimedEvent, end: RunEnd, onceDelayed?: OnceDelayed): Promise<ProcessOutcome> {
    const claim = claimIdentity(event);
    const landed = await recordedOrCarried(
      this.options.store.finish(event, end.results, end.status, end.lastError, { giveBackAttempt: end.giveBackAttempt, heldFor: end.heldFor }),
      () => ({ claimToken: event.claimToken, finish: claim, end: storedEnd(end) }),
    );
    if (!landed) return this.movedOn(event, end.status);
    return this.reportEnd(claim, end, onceDelayed);
  }

  /**
   * Reports a run's end once its finish is written: 'completed', or the error the job ends with
   * ({@link EventWaitingError}: it waits; {@link DeliveryFailedError}: retried, or not when final), with the metric and
   * the log line of each.
   */
  private reportEnd(claim: ClaimIdentity, end: RunEnd, onceDelayed?: OnceDelayed): ProcessOutcome {
    const { logger } = this.options;
    const fields = { eventId: claim.eventId, provider: claim.provider, eventType: claim.eventType };
    const lastError = end.lastError ?? '';
    switch (end.status) {
      case 'COMPLETED':
        eventsProcessed.inc({ provider: claim.provider, status: 'completed' });
        // Guarded: winston builds a line before its transport drops it by level.
        if (logger.isInfoEnabled()) logger.info('event completed', { ...fields, attempt: claim.attempt, deliveries: end.results.length });
        return 'completed';
      case 'PENDING': {
        const waitMs = end.waitMs ?? 0;
        const waited = () => ({ ...fields, waitingFor: end.heldFor, delivered: end.results.filter((r) => r.succeeded).length, waitMs });
        // At warn, as the worker's line for a claim or finish the database did not take: an operator running at warn
        // sees the outage's deliveries held back either way.
        if (end.databaseAway) logger.warn('database unavailable before sending: event given back; no attempt used', { ...waited(), notSent: end.databaseAway });
        else if (logger.isInfoEnabled()) {
          if (end.notStarted) logger.info('worker stopping: event given back to the queue; no attempt used', { ...waited(), notStarted: end.notStarted });
          else logger.info('event waits for its destinations; no attempt used', waited());
        }
        throw new EventWaitingError(lastError, waitMs, onceDelayed);
      }
      case 'FAILED':
      case 'DEAD_LETTER': {
        const final = end.status === 'DEAD_LETTER';
        eventsProcessed.inc({ provider: claim.provider, status: final ? 'dead_letter' : 'failed' });
        logger.warn(final ? 'event dead-lettered' : 'event attempt failed; retry scheduled', { ...fields, attempt: claim.attempt, lastError });
        throw new DeliveryFailedError(lastError, final, claim.attempt, end.retryAfterMs);
      }
    }
  }

  /**
   * The end of this job's earlier run that PostgreSQL did not take, written now under that run's claim and reported as
   * that run would have; undefined when the event is no longer that claim's (claimed again, replayed meanwhile): this
   * run then claims it as usual. Still unreachable: the job waits again, carrying the same.
   */
  private async endOfEarlierRun(carried: UnrecordedRun & Required<Pick<UnrecordedRun, 'finish' | 'end'>>, token: string): Promise<ProcessOutcome | undefined> {
    const landed = await recordedOrCarried(this.options.store.refinish(carried.finish, carried.end, token), () => carried);
    const fields = { eventId: carried.finish.eventId, attempt: carried.finish.attempt, status: carried.end.status };
    if (!landed) {
      this.options.logger.info("an earlier run's end, not written while the database was unavailable, no longer applies (the event was claimed again or replayed); claiming it", fields);
      return undefined;
    }
    this.options.logger.info("an earlier run's end, not written while the database was unavailable, is written now; nothing sent again", fields);
    return this.reportEnd(carried.finish, carried.end);
  }

  /**
   * The claim took the event over from a run that made its last attempt and never finished it (its worker was killed,
   * ran out of memory, or stalled past its job lock while sending), and ended it DEAD_LETTER, sending nothing: an
   * event whose processing kills its worker would otherwise be sent again by every worker it brings down. Reported
   * like any dead letter (webhook_events_processed_total, the log line, a job BullMQ does not retry).
   */
  private lastAttemptCutOff(event: ClaimedEvent): never {
    eventsProcessed.inc({ provider: event.provider, status: 'dead_letter' });
    this.options.logger.warn('event dead-lettered', {
      eventId: event.id,
      provider: event.provider,
      eventType: event.eventType,
      attempt: event.attempts,
      lastError: WORKER_STOPPED_LAST_ATTEMPT,
    });
    throw new DeliveryFailedError(WORKER_STOPPED_LAST_ATTEMPT, true, event.attempts);
  }

  /**
   * An attempt whose finish did not land: the event was claimed again (this run outlived its job's lock) or replayed
   * meanwhile, and the run holding it now decides its end. Nothing of this attempt was recorded, so it is not counted
   * in webhook_events_processed_total either (the run that lands counts), and its job is not failed: a retry would
   * only find the event held by that run.
   */
  private movedOn(event: ClaimedEvent, status: FinishedStatus): ProcessOutcome {
    this.options.logger.info('this attempt no longer holds the event (claimed again or replayed meanwhile); its end is not recorded', {
      eventId: event.id,
      provider: event.provider,
      attempt: event.attempts,
      replays: event.replays,
      status,
    });
    return 'skipped';
  }

  /**
   * How long an event waits for one destination before its job runs again: a paused destination PAUSED_RECHECK_MS
   * (resume promotes it at once); an open circuit until its cooldown ends, then spread over a random part of a
   * cooldown that doubles each time the same job waited again (up to MAX_CIRCUIT_SPREAD_MS), so a long outage's
   * backlog is not claimed again every cooldown (the first event back after a cooldown probes; a probe that closes
   * the circuit promotes the rest); the rate limit until a place in the window frees, spread wider each time the
   * same job waited again.
   */
  private plannedWait({ destination, deferred }: Waiting, previousWaits: number): number {
    switch (deferred.reason) {
      case 'paused':
        return PAUSED_RECHECK_MS * (0.9 + Math.random() * 0.2);
      case 'circuit_open': {
        const cooldown = destination.policy?.circuitBreaker?.cooldownMs ?? 30_000;
        return deferred.waitMs + Math.random() * Math.min(cooldown * 2 ** Math.min(previousWaits, 10), MAX_CIRCUIT_SPREAD_MS);
      }
      case 'rate_limited':
        return deferred.waitMs + Math.random() * Math.min(5_000, RATE_WINDOW_MS * 2 ** Math.min(previousWaits, 3));
      case 'state_unavailable':
        return deferred.waitMs + Math.random() * 1000;
    }
  }

  /**
   * How long a job whose run threw after only waiting for slots waits before it runs again (its attempt given back):
   * a second, doubling each time the same job waited again, up to PAUSED_RECHECK_MS, spread ±20%. Not at once: the
   * error may come again on the next run, and a run that counts no attempt would otherwise loop without a pause.
   */
  private givenBackWait(previousWaits: number): number {
    return Math.min(GIVEN_BACK_WAIT_MS * 2 ** Math.min(previousWaits, 10), PAUSED_RECHECK_MS) * (0.8 + Math.random() * 0.4);
  }

  /**
   * After a failed probe: until the circuit lets a probe through again (a cooldown, or the probe's Retry-After when
   * that is longer: the circuit stays open until then, and a job back after only the cooldown would find it open and
   * wait again), then a spread like the others'.
   */
  private reopenedWait(failures: Attempted[], previousWaits: number): number {
    const routed = this.options.routes.allDestinations();
    const waits = failures
      .filter((f) => f.probeFailed)
      .map((f) => {
        const cooldown = routed.find((d) => d.name === f.destination)?.policy?.circuitBreaker?.cooldownMs ?? 30_000;
        return Math.max(cooldown, f.retryAfterMs ?? 0) + Math.random() * Math.min(cooldown * 2 ** Math.min(previousWaits, 10), MAX_CIRCUIT_SPREAD_MS);
      });
    return Math.min(...waits);
  }

  /**
   * Delivers to every routed destination and handler that has not succeeded for this event yet, in parallel.
   * Each ends in a result, never an exception: whatever throws while delivering to one destination (a bug, a
   * destination the signer cannot sign for, a transform failing on this payload) is that destination's failed
   * attempt, recorded like any other, so the event moves on to FAILED (retry) and finally DEAD_LETTER instead of
   * being stranded in PROCESSING. A destination that every route naming it filters the event out for is sent nothing
   * and records nothing: when no destination is left, the event is COMPLETED with nothing delivered.
   * Each attempted delivery is also added to `attempted` once all have ended, even when one threw (see releaseClaim).
   */
  private async deliver(event: ClaimedEvent, attempted: Attempted[]): Promise<Outcome[]> {
    const done = new Set(event.delivered);
    const routed = this.options.routes.routedDestinationsFor(event.provider, event.eventType).filter((r) => !done.has(r.destination.name));
    const handlers = this.options.handlers.handlersFor(event.provider, event.eventType).filter(([name]) => !done.has(name));
    const work = this.routeWork(event);

    // Marks the event while everything this claim still runs only waits for a slot (see claimHooks).
    const mark = new ClaimWaitMark(this.options.store, event, routed.length + handlers.length);
    const deliveries = routed.map((r) => this.endedFor(mark.delivery(), (marked) => this.deliverRouted(event, r, work, marked)));
    // A handler runs at once: a claim running one is never only waiting.
    const inProcess = handlers.map(([name, handler]) =>
      this.endedFor(mark.delivery(), () => this.runHandler(event, name, handler, async () => (await work.input()).payload)),
    );
    // Every delivery ends before the run does, even when one throws (each should end in a result: see above): a run
    // that ends by throwing releases its claim (releaseClaim), and its job's retry must not send beside deliveries of
    // this run still under way.
    const settled = await Promise.allSettled([...deliveries, ...inProcess]);
    const outcomes = settled.flatMap((result) => (result.status === 'fulfilled' && result.value !== undefined ? [redacted(result.value)] : []));
    attempted.push(...outcomes.filter(isAttempted));
    const thrown = settled.find((result) => result.status === 'rejected');
    if (thrown) throw thrown.reason;
    return outcomes;
  }

  /**
   * Runs one delivery of the claim, telling its mark how it ended: with an attempt (a result, sent or failed where it
   * was built), or without one (put off, filtered out, not started, claim lost). An exception counts as an attempt.
   */
  private async endedFor<T extends Outcome | undefined>(marked: MarkedDelivery, delivery: (marked: MarkedDelivery) => Promise<T>): Promise<T> {
    let used = true;
    try {
      const outcome = await delivery(marked);
      used = outcome !== undefined && isAttempted(outcome);
      return outcome;
    } finally {
      marked.ended(used);
    }
  }

  /**
   * What routes read of this event, each read or computed at most once per attempt and only when needed: the payload
   * and kept headers (one query, never made for plain forwards, which send the raw bytes the claim returned), the
   * filters' input, and each route's transform result (shared by that route's destinations).
   */
  private routeWork(event: ClaimedEvent): RouteWork {
    let input: Promise<RouteInput> | undefined;
    let filterInput: Promise<RouteFilterInput> | undefined;
    const transformed = new Map<CompiledRoute, Promise<Buffer>>();
    const readInput = () =>
      (input ??= tagDatabaseAway(
        this.options.routeInputs
          ? this.options.routeInputs.read(event.id)
          : this.options.store.payload(event.id).then((payload): RouteInput => ({ payload, headers: {} })),
      ));
    return {
      input: readInput,
      filterInput: () =>
        (filterInput ??= readInput().then(({ payload, headers }) => ({ body: payload, headers, provider: event.provider, eventType: event.eventType }))),
      transformed: (route) => {
        let body = transformed.get(route);
        if (!body) {
          body = readInput().then(({ payload, headers, holdsRoundedIntegers }) =>
            route.transform!(payload, { id: event.id, provider: event.provider, eventType: event.eventType, headers }, { holdsRoundedIntegers }),
          );
          body.catch(() => undefined); // each destination of the route reports it
          transformed.set(route, body);
        }
        return body;
      },
    };
  }

  /**
   * The first route naming this destination whose filter takes the event decides what it is sent; undefined when
   * every one filters it out.
   */
  private async deliverRouted(event: ClaimedEvent, routed: RoutedDestination, work: RouteWork, marked: MarkedDelivery): Promise<Outcome | undefined> {
    const started = performance.now();
    let chosen: CompiledRoute | undefined;
    try {
      for (const route of routed.routes) {
        if (!route.filter || route.filter(await work.filterInput())) {
          chosen = route;
          break;
        }
      }
    } catch (error) {
      if (error instanceof DatabaseAwayError) return { destination: routed.destination.name, away: error };
      const result = this.internalFailure(event, routed.destination.name, error, started);
      this.observe(result);
      return result;
    }
    return chosen ? this.deliverGuarded(event, routed.destination, chosen, work, marked) : undefined;
  }

  /**
   * A delivery with the destination's protection around it: it waits (nothing sent, no attempt) when the destination
   * is paused, its circuit is open or its rate limit is reached; otherwise it is attempted and its outcome counts
   * against the circuit.
   */
  private async deliverGuarded(event: ClaimedEvent, destination: Destination, route: CompiledRoute, work: RouteWork, marked: MarkedDelivery): Promise<Outcome> {
    const { guard } = this.options;
    const claimChecks = this.claimHooks(event, destination, marked);
    if (!guard) return this.deliverTo(event, destination, route, work, claimChecks);
    const admission = await guard.admit(destination);
    if (!admission.go) return this.putOff(event, { destination, deferred: admission.deferred });
    let recorded: { probeFailed: boolean } | undefined;
    const outcome = await this.deliverTo(event, destination, route, work, {
      ...claimChecks,
      // Admitted before its route's transform built the message (up to TRANSFORM_TIMEOUT_MS, after its turn behind
      // the process's other transforms): asked again once it is built, before the deliverer reserves a place in the
      // rate limit for it. A plain forward is sent as it was admitted: no second round trip to Redis.
      afterTransform: () => guard.recheck(destination, admission.probeToken),
      // Admitted before it queued for one of the destination's slots (maxConcurrency): asked again once it holds one.
      afterSlotWait: () => guard.recheck(destination, admission.probeToken),
      // Counted against the circuit before the slot passes on, so the delivery waiting for it sees what this did.
      afterSend: async (result) => void (recorded = await guard.record(destination, result, admission.probeToken)),
    });
    if ('deferred' in outcome || 'notStarted' in outcome || 'lost' in outcome || 'away' in outcome) {
      if (admission.probeToken) await guard.releaseProbe(destination, admission.probeToken);
      // Not started by a stopping worker, its claim lost, or the database away: the destination did not put it off
      // (not a deferral).
      return 'deferred' in outcome ? this.putOff(event, outcome) : outcome;
    }
    // A delivery that failed before it was sent (a transform, a secret it cannot sign with) is counted here.
    const { probeFailed } = recorded ?? (await guard.record(destination, outcome, admission.probeToken));
    return probeFailed ? { ...outcome, probeFailed } : outcome;
  }

  /**
   * A delivery that must wait, counted in `webhook_destination_deferred_total` when it starts waiting: not when the
   * event already waited for this destination at its claim (its job looked again, the destination is still paused,
   * open or over its limit), so the counter counts deliveries put off, not rechecks.
   */
  private putOff(event: ClaimedEvent, waiting: Waiting): Waiting {
    if (!event.heldFor.includes(waiting.destination.name)) destinationDeferrals.inc({ destination: waiting.destination.name, reason: waiting.deferred.reason });
    return waiting;
  }

  /**
   * What a delivery does about its claim around its destination's slot. Before a slot wait, the claim's mark hears
   * that it waits: when everything the claim still runs only waits and nothing was sent, the event is marked
   * (`claim_waiting`, see {@link ClaimWaitMark}). Once it holds its slot, before anything is sent, it confirms its claim
   * when it comes {@link EventProcessorOptions.confirmClaimAfterMs} or more after the claim was asked, whatever it
   * waited for (a slot, its route's transform, an event loop stalled anywhere on its way): it throws
   * {@link ClaimLostError} when this run's claim no longer holds the event. Sooner, no other claim can have taken the
   * event (a claim leaves one younger than the live-claim window alone, and the bound is half of it), so a delivery on
   * time sends no statement, transformed or waited for, unless its claim's mark may be set: the confirming statement
   * clears it then, before the send.
   */
  private claimHooks(event: ClaimedEvent, destination: Destination, marked: MarkedDelivery): Required<Pick<DeliveryHooks, 'beforeSlotWait' | 'slotHeld'>> {
    const { confirmClaimAfterMs } = this.options;
    const askedAt = this.claimAsked.get(event);
    return {
      beforeSlotWait: () => marked.waits(),
      slotHeld: async () => {
        const late = askedAt === undefined || performance.now() - askedAt >= confirmClaimAfterMs;
        if (!(await tagDatabaseAway(marked.sends(late)))) throw new ClaimLostError(event.id, destination.name);
      },
    };
  }

  private deliverTo(
    event: ClaimedEvent,
    destination: Destination,
    route: CompiledRoute,
    work: RouteWork,
    hooks?: RouteDeliveryHooks,
  ): Promise<DeliveryResult | Waiting | NotStarted | ClaimLost | DatabaseAway> {
    const { afterTransform, ...deliveryHooks } = hooks ?? {};
    const started = performance.now();
    const type = destinationType(destination);
    const attributes = {
      'webhook.destination': destination.name,
      'webhook.destination.type': type,
      'webhook.route': route.index,
      'webhook.transformed': route.transform !== undefined,
      'url.full': withoutCredentials(destination.url),
    };
    return tracer.startActiveSpan('webhook.deliver', { attributes }, async (span): Promise<DeliveryResult | Waiting | NotStarted | ClaimLost | DatabaseAway> => {
      let result: DeliveryResult;
      try {
        let message: OutgoingMessage;
        if (route.transform) {
          // A transform that fails is this delivery's failed attempt (below), whatever the destination's state now.
          message = { body: await work.transformed(route), contentType: 'application/json' };
          await afterTransform?.();
        } else {
          message = { body: event.rawBody, contentType: event.contentType };
        }
        // HTTP: the undici instrumentation makes the client span under this one and sends its traceparent; the
        // broker publishers make a producer span and carry its context in the message headers.
        result = await this.delivererFor(type).deliver(event, destination, message, deliveryHooks);
      } catch (error) {
        if (error instanceof DeliveryDeferred) {
          // Over the rate limit, or paused or its circuit opened while its transform ran or it waited for a slot:
          // nothing was sent.
          span.setAttribute('webhook.waiting', error.reason);
          span.end();
          return { destination, deferred: error };
        }
        if (error instanceof WorkerStoppingError) {
          // The worker is stopping and this delivery held no slot yet: nothing was sent.
          span.setAttribute('webhook.not_started', 'worker_stopping');
          span.end();
          return { destination, notStarted: error };
        }
        if (error instanceof ClaimLostError) {
          // Another run holds the event now (this worker stalled past its job lock on this delivery's way): nothing
          // was sent.
          span.setAttribute('webhook.not_started', 'claim_lost');
          span.end();
          return { destination, lost: error };
        }
        if (error instanceof DatabaseAwayError) {
          // PostgreSQL did not give what the message is built from, or confirm the claim once the delivery held its
          // slot: not sent.
          span.setAttribute('webhook.not_started', 'database_unavailable');
          span.end();
          return { destination: destination.name, away: error };
        }
        result =
          error instanceof RouteTransformError
            ? this.transformFailure(event, destination.name, route, error, started)
            : this.internalFailure(event, destination.name, error, started);
      }
      try {
        this.observe(result);
        if (type === 'http') span.setAttribute('http.response.status_code', result.statusCode ?? 0);
        if (!result.succeeded) span.setStatus({ code: SpanStatusCode.ERROR, message: result.error ?? result.result });
      } finally {
        span.end();
      }
      return result;
    });
  }

  private delivererFor(type: ReturnType<typeof destinationType>): Deliverer {
    if (type === 'http') return this.options.forwarder;
    const deliverer = this.options.publishers?.[type];
    if (!deliverer) throw new Error(`no deliverer for destination type "${type}" in this worker`);
    return deliverer;
  }

  private async runHandler(event: ClaimedEvent, name: string, handler: EventHandler, payload: () => Promise<unknown>): Promise<DeliveryResult | DatabaseAway> {
    const started = performance.now();
    let handled: HandledEvent;
    try {
      handled = { id: event.id, provider: event.provider, eventType: event.eventType, payload: await payload(), rawBody: event.rawBody, attempt: event.attempts };
    } catch (error) {
      if (error instanceof DatabaseAwayError) return { destination: name, away: error };
      const result = this.internalFailure(event, name, error, started);
      this.observe(result);
      return result;
    }
    let result: DeliveryResult;
    try {
      await handler(handled);
      result = { destination: name, succeeded: true, result: 'success', statusCode: null, error: null, durationMs: Math.round(performance.now() - started) };
    } catch (error) {
      result = {
        destination: name,
        succeeded: false,
        result: 'handler_error',
        statusCode: null,
        error: describeError(error),
        durationMs: Math.round(performance.now() - started),
      };
    }
    this.observe(result);
    return result;
  }

  /**
   * A route's transform that failed on this event's payload, as the destination's failed attempt carrying JSONata's
   * reason (in the attempt's error and the event's lastError). Counted with result `internal_error`: the worker could
   * not build the message.
   */
  private transformFailure(event: ClaimedEvent, destination: string, route: CompiledRoute, error: RouteTransformError, started: number): DeliveryResult {
    const message = errorText(`transform of routes.${route.index} failed: ${error.message}`, 512);
    this.options.logger.warn('route transform failed; recorded as a failed attempt', { eventId: event.id, destination, attempt: event.attempts, error: message });
    return { destination, succeeded: false, result: 'internal_error', statusCode: null, error: message, durationMs: Math.round(performance.now() - started) };
  }

  /** An exception inside the worker while delivering to `destination`, as that destination's failed attempt. */
  private internalFailure(event: ClaimedEvent, destination: string, error: unknown, started: number): DeliveryResult {
    this.options.logger.error('delivery failed inside the worker; recorded as a failed attempt', { eventId: event.id, destination, attempt: event.attempts, error });
    return {
      destination,
      succeeded: false,
      result: 'internal_error',
      statusCode: null,
      error: `internal error: ${describeError(error)}`,
      durationMs: Math.round(performance.now() - started),
    };
  }

  private observe(result: DeliveryResult): void {
    deliveryAttempts.inc({ destination: result.destination, result: result.result });
    deliveryDuration.observe({ destination: result.destination }, result.durationMs / 1000);
  }
}

/** What routes read of one event during one attempt, each at most once (see EventProcessor.routeWork). */
interface RouteWork {
  input(): Promise<RouteInput>;
  filterInput(): Promise<RouteFilterInput>;
  transformed(route: CompiledRoute): Promise<Buffer>;
}

/**
 * Whether a run's error reports an end already written (a wait, a failed attempt, a dead letter: {@link reportEnd},
 * the claim's own dead letter) or carried to the job's next run (PostgreSQL unavailable: {@link RunNotRecordedError},
 * whose next run needs the claim as it stands). Any other error ended the run before it wrote its end.
 */
function endWrittenOrCarried(error: unknown): boolean {
  return error instanceof EventWaitingError || error instanceof DeliveryFailedError || error instanceof RunNotRecordedError;
}

/** An error's message (its name when it has none), as the attempts table keeps it; anything thrown is allowed. */
function describeError(error: unknown): string {
  return errorText(error instanceof Error ? error.message || error.name : String(error), 512);
}

/** A run's end as the job's data keeps it: the finish's fields of each result only (no probe marks). */
function storedEnd(end: RunEnd): RunEnd {
  return {
    ...end,
    results: end.results.map(({ destination, succeeded, result, statusCode, error, durationMs }) => ({ destination, succeeded, result, statusCode, error, durationMs })),
  };
}
