import { setMaxListeners } from 'node:events';
import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { isDatabaseUnavailable } from '../shared/database/database-errors.js';
import { promoteIfDelayed } from '../shared/destinations/held-events.js';
import { runWithContext } from '../shared/logging/request-context.js';
import type { Logger } from '../shared/logging/logger.js';
import { RateLimitedLog } from '../shared/logging/rate-limited-log.js';
import { stampReadyAt } from '../shared/queue/job-ready-time.js';
import { isRedisConnectionError } from '../shared/queue/redis-connection-error.js';
import { isJobNoLongerHeld, LapsedJobReplacement } from './lapsed-job-replacement.js';
import { isLostJobLock } from './lost-job-lock.js';
import { DeliveryFailedError, EventWaitingError, type OnceDelayed } from './processing/delivery-failed-error.js';
import type { EventProcessor } from './processing/event-processor.js';
import { RunNotRecordedError, type UnrecordedRun, type WorkerJobData } from './processing/unrecorded-run.js';
import { retryBackoffOf, retryDelay, shortestRetryDelay } from './retry-backoff.js';

export interface EventWorkerOptions {
  /** A connection with `maxRetriesPerRequest: null` (`createRedisConnection(..., 'worker')`). */
  connection: Redis;
  queueName: string;
  prefix: string;
  concurrency: number;
  /** A crashed worker's jobs come back after about this long (BullMQ's stalled-job check). */
  lockDurationMs: number;
  stalledIntervalMs: number;
  processor: EventProcessor;
  logger: Logger;
  /** Told how many jobs run after every change (drives the pod-deletion-cost annotation). */
  onActiveJobsChange?: (active: number) => void;
}

/** What a job's Redis call, raced against the drain letting go of Redis, yields when the drain won. */
const REDIS_LET_GO = Symbol('redis let go');

/** The BullMQ consumer: takes event ids off the queue and hands them to the {@link EventProcessor}. */
export class EventWorker {
  private readonly worker: Worker<WorkerJobData>;
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  /**
   * While Redis is unreachable BullMQ reports every reconnect attempt of both its connections (about one a second):
   * the first is logged at once, the rest as one line a minute with their count.
   */
  private readonly connectionErrors: RateLimitedLog;
  /**
   * After such an outage (or an event-loop stall) outlasting WORKER_LOCK_DURATION_MS, BullMQ reports every job whose
   * lock lapsed, at each failed renewal and at the job's end (see lost-job-lock.ts): counted the same way. Any other
   * worker error is still a line of its own.
   */
  private readonly lostLocks: RateLimitedLog;
  /**
   * Aborted when the drain stops waiting for Redis (see {@link close}): a job still waiting for its own Redis calls
   * (a delay) then ends without them. A signal, not a promise every delay races: each race would leave a reaction on
   * a promise that never settles in a worker that never drains so, one more for every wait and retry.
   */
  private readonly redisLetGo = new AbortController();
  /** Queues an event's next run anew when BullMQ refuses to delay or retry a job this worker no longer holds. */
  private readonly lapsed: LapsedJobReplacement;

  constructor(private readonly options: EventWorkerOptions) {
    this.lapsed = new LapsedJobReplacement({ connection: options.connection, queueName: options.queueName, prefix: options.prefix });
    // One listener per delay in progress (up to WORKER_CONCURRENCY), each removed as its delay ends: not a leak.
    setMaxListeners(0, this.redisLetGo.signal);
    this.connectionErrors = new RateLimitedLog((fields) => options.logger.warn('worker connection error', fields));
    this.lostLocks = new RateLimitedLog((fields) =>
      options.logger.warn(
        "job locks lost (Redis unreachable, or the event loop stalled, for WORKER_LOCK_DURATION_MS): BullMQ refused to renew or end jobs this worker no longer holds; the stalled check hands them out again",
        fields,
      ),
    );
    this.worker = new Worker<WorkerJobData>(options.queueName, (job, token) => this.handle(job, token), {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: options.stalledIntervalMs,
      // A job may be put back after two stalls (its worker died or froze); at the third BullMQ fails it, and the
      // reconciler then re-enqueues its event.
      maxStalledCount: 2,
      autorun: false,
    });
    this.worker.on('error', (error) => {
      if (isRedisConnectionError(error)) this.connectionErrors.note({ error });
      else if (isLostJobLock(error)) this.lostLocks.note({ error });
      else options.logger.warn('worker error', { error });
    });
    // A failed attempt BullMQ retries waits out its backoff in the delayed set (`finishedOn` unset, `delay` the
    // backoff it chose): stamped with the backoff's end, so the queue-wait gauge does not count the backoff.
    this.worker.on('failed', (job) => {
      if (job && !job.finishedOn && job.delay > 0) void stampReadyAt(job, Date.now() + job.delay);
    });
  }

  /** Starts taking jobs. */
  start(): void {
    void this.worker.run().catch((error: unknown) => this.options.logger.error('worker stopped unexpectedly', { error }));
  }

  /**
   * Stops taking jobs and waits for the ones running to finish (`force` abandons them to the stalled check).
   *
   * With Redis unreachable, BullMQ's graceful close never ends: it first interrupts its blocking connection, and
   * waits for that connection to be ready to do so. No job can be taken or finished without Redis anyway, so then
   * the jobs running here are let finish their processing (deliveries and bookkeeping in PostgreSQL), and the
   * worker is closed without waiting for Redis: a job whose end BullMQ could not record comes back through the
   * stalled check, and finds its event already finished. A job whose own Redis calls are pending (a delay: its
   * event's end is already in PostgreSQL) is let go of them too, or it would keep the drain waiting for Redis.
   */
  async close(force = false): Promise<void> {
    try {
      await this.closeWorker(force);
    } finally {
      // After the jobs: a job's last move may still add its replacement. Only lets go of the shared connection.
      await this.lapsed.close();
    }
  }

  private async closeWorker(force: boolean): Promise<void> {
    if (!force && this.options.connection.status !== 'ready') {
      this.options.logger.info('redis unreachable: closing the worker once its running jobs are done, without waiting for redis', {
        activeJobs: this.active,
      });
      // No fetch after this one: BullMQ's close comes only once the running jobs are done (see handle for the job a
      // fetch already waiting for Redis may still bring). Pausing needs no Redis; the locks are renewed meanwhile.
      this.worker.pause(true).catch(() => undefined);
      await this.letGoOfRedis();
      force = true;
    }
    this.connectionErrors.flush();
    this.lostLocks.flush();
    if (force) return this.worker.close(true);
    // Redis answering at the start of the drain may go away during it: the graceful close would then wait for it
    // until SHUTDOWN_TIMEOUT_MS (exit 1). Once the connection is lost the drain goes on as above, and BullMQ's close,
    // still waiting for Redis, is left to the process's exit.
    const graceful = this.worker.close(false);
    const lost = connectionLost(this.options.connection);
    try {
      if ((await Promise.race([graceful, lost.happened])) !== CONNECTION_LOST) return;
    } finally {
      lost.stopWatching();
    }
    graceful.catch(() => undefined);
    this.options.logger.info('redis lost while draining: closing the worker once its running jobs are done, without waiting for redis', {
      activeJobs: this.active,
    });
    await this.letGoOfRedis();
  }

  /** Lets the running jobs finish without their pending Redis calls, and waits for them. */
  private async letGoOfRedis(): Promise<void> {
    this.redisLetGo.abort();
    await this.whenIdle();
  }

  /** Resolves once no job runs in this process. */
  private whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Jobs running now. */
  get activeJobs(): number {
    return this.active;
  }

  private async handle(job: Job<WorkerJobData>, token: string | undefined): Promise<string> {
    // Taken after the drain let go of Redis: BullMQ's fetch that was waiting for Redis then (a drain that began while it
    // was unreachable) takes a job as Redis answers again. A draining worker takes no job: not run here, it goes back
    // to the queue at once, no attempt used, for the next worker; should Redis not take that, the stalled check
    // brings it back. Before, it ran, its deliveries refused by the drain, and it was left to the stalled check
    // (WORKER_LOCK_DURATION_MS + WORKER_STALLED_INTERVAL_MS), counted as a stall, while the drain waited for it.
    if (this.redisLetGo.signal.aborted) {
      job.moveToDelayed(Date.now(), token).catch(() => undefined);
      throw new DelayedError();
    }
    this.setActive(+1);
    try {
      // Runs that neither completed nor failed: the times this job waited for a destination (or was cut off).
      const previousWaits = Math.max(0, (job.attemptsStarted ?? 0) - job.attemptsMade - 1);
      // Never BullMQ's last attempt: the event's end is PostgreSQL's count against JOB_ATTEMPTS as this worker has it.
      // A job's attempts are those of the process that added it (JOB_ATTEMPTS then: a job queued before the setting
      // was raised, or by an ingress of the earlier setting during a rolling deploy), and taken as the last, they
      // dead-lettered the event that many attempts in. A retry BullMQ's count no longer allows is delayed here
      // instead (see retryDelayBullmqCannotKeep).
      return await runWithContext({ eventId: job.data.eventId, correlationId: `job:${job.id}` }, () =>
        this.options.processor.process(job.data, previousWaits),
      );
    } catch (error) {
      // A dead-lettered event is done: tell BullMQ not to retry even if the job had attempts left.
      if (error instanceof DeliveryFailedError && error.final) throw new UnrecoverableError(error.message);
      // The job runs again: with what this run could not write, or without what an earlier run could not (written now).
      const unrecorded = error instanceof RunNotRecordedError ? error.unrecorded : undefined;
      if (unrecorded || job.data.unrecorded) await this.carry(job, unrecorded);
      // PostgreSQL could not claim or record the event (unreachable, read-only, shutting down): no attempt was made,
      // so none of BullMQ's is used either; otherwise an outage during the backoffs used up attempts that
      // PostgreSQL never counted, and the last of BullMQ's dead-lettered the event early. Not for a run's end already
      // written (a failed attempt, a wait): its message is the destinations' errors, which may read like PostgreSQL's
      // (isDatabaseUnavailable knows pg's connection errors by their message): a destination answering "HTTP 503:
      // terminating connection due to administrator command" was retried after the database's wait, its Retry-After
      // and the backoff ignored, and without the attempt counted by BullMQ.
      const endReported = error instanceof DeliveryFailedError || error instanceof EventWaitingError;
      if (unrecorded || (!endReported && isDatabaseUnavailable(error))) {
        const cause = error instanceof RunNotRecordedError ? error.cause : error;
        this.options.logger.warn('database unavailable; the event waits without using an attempt', { eventId: job.data.eventId, error: cause });
        await this.delay(job, token, this.databaseWait(job));
      }
      // Waiting for a destination is not an attempt: the job is delayed without using one of BullMQ's.
      if (error instanceof EventWaitingError) await this.delay(job, token, error.waitMs, error.onceDelayed);
      if (error instanceof DeliveryFailedError && !error.final) {
        const retryIn = this.retryDelayBullmqCannotKeep(job, error);
        if (retryIn !== undefined) await this.delay(job, token, retryIn);
        await this.retryAfterBackoff(job, token, error);
      }
      throw error;
    } finally {
      this.setActive(-1);
    }
  }

  /**
   * Moves the job to the delayed set for `ms` without counting an attempt; BullMQ then leaves it alone. Stamped first
   * with the delay's end: the queue-wait gauge counts from there (or from an earlier promotion), not from this run.
   * Redis unreachable, or the job no longer this worker's: see {@link moveHeldJob}. Once the job is delayed,
   * `onceDelayed` runs (see {@link EventWaitingError.onceDelayed}).
   */
  private async delay(job: Job<WorkerJobData>, token: string | undefined, ms: number, onceDelayed?: OnceDelayed): Promise<never> {
    const until = Date.now() + Math.max(0, Math.round(ms));
    const delayed = await this.moveHeldJob(job, until, async () => {
      await stampReadyAt(job, until);
      await job.moveToDelayed(until, token);
    });
    if (delayed && onceDelayed) await this.runOnceDelayed(job, until, onceDelayed);
    throw new DelayedError();
  }

  /**
   * A waiting event's check, once its job is delayed, with what promotes the job. A failure is only logged (the job
   * comes back at its planned time); a drain closing without Redis does not wait for it.
   */
  private async runOnceDelayed(job: Job<WorkerJobData>, until: number, onceDelayed: OnceDelayed): Promise<void> {
    // Promotes the job as Redis holds it now, and only while it is still this delay (stamped with its end, `until`):
    // promoted by the probe's holder meanwhile, it may have run again, on another worker, and been delayed for a
    // reason of that run's (a retry's backoff, with the run's unwritten end carried in its data), which is not this
    // check's to cut short, nor its data this run's to stamp over.
    const promoteThisDelay = async () => {
      const current = (await Job.fromId<WorkerJobData>(this.worker, job.id!)) as Job<WorkerJobData> | undefined;
      return current !== undefined && current.data.readyAt === until && (await promoteIfDelayed(current));
    };
    const checked = onceDelayed(promoteThisDelay).catch((error: unknown) =>
      this.options.logger.warn('could not check whether a waiting event may go sooner; it waits its planned time', { eventId: job.data.eventId, jobId: job.id, error }),
    );
    await untilAborted(checked, this.redisLetGo.signal);
  }

  /**
   * Retries the job after BullMQ's backoff, counting the attempt: what BullMQ does with a processor's error
   * (Job.moveToFailed), done here so that a refusal comes back to the job's run ({@link moveHeldJob}). Made by BullMQ
   * after the processor threw, a refusal only reached the worker's 'error' event, and the FAILED event was left
   * without a job. Stamped, once delayed, with the backoff's end (as {@link delay} is).
   */
  private async retryAfterBackoff(job: Job<WorkerJobData>, token: string | undefined, error: DeliveryFailedError): Promise<never> {
    // BullMQ hands its processor the job's token always; without one the retry is left to BullMQ, as before.
    if (token === undefined) throw error;
    // Should the job no longer be this worker's: its replacement waits the backoff BullMQ would have picked.
    const until = Date.now() + retryDelay(retryBackoffOf(job), error.attempt);
    await this.moveHeldJob(job, until, async () => {
      await job.moveToFailed(error, token, false);
      if (!job.finishedOn && job.delay > 0) await stampReadyAt(job, Date.now() + job.delay);
    });
    throw new DelayedError();
  }

  /**
   * Runs `move` (the job's delay or retry, in Redis), and when BullMQ refuses it because the job is no longer this
   * worker's (its lock lapsed while the run went on: see {@link LapsedJobReplacement}), queues the event's next run
   * as a job of its own at `until`. Other failures of the move go on to BullMQ as the run's error, as before.
   *
   * The calls queue on the worker's connection while Redis is unreachable. A drain closing without Redis does not
   * wait for them: the job ends as if delayed (BullMQ then records nothing for it) and stays active in Redis under a
   * lock nobody renews; once Redis is back, the lock lapses within WORKER_LOCK_DURATION_MS and the next stalled
   * check (every WORKER_STALLED_INTERVAL_MS, by any worker) puts it back in the queue. Its event, PENDING or FAILED in
   * PostgreSQL, is then taken again; were the job lost with Redis's data, the reconciler re-enqueues the event.
   * @returns whether the job was moved as asked (not when refused, nor left to the stalled check)
   */
  private async moveHeldJob(job: Job<WorkerJobData>, until: number, move: () => Promise<void>): Promise<boolean> {
    const moved = move().then(
      () => undefined,
      (error: unknown) => {
        if (isJobNoLongerHeld(error)) return error as Error;
        throw error;
      },
    );
    const refusal = await untilAborted(moved, this.redisLetGo.signal);
    if (refusal === REDIS_LET_GO) {
      // Rejected with "Connection is closed" when the drain disconnects; nothing is left to do with it.
      moved.catch(() => undefined);
      this.options.logger.info('redis unreachable while draining: the job is left to the stalled check', { eventId: job.data.eventId, jobId: job.id });
      return false;
    }
    if (!refusal) return true;
    await this.replaceLapsed(job, until, refusal);
    return false;
  }

  /** Queues the event's next run anew (see {@link LapsedJobReplacement}) and says so, once, at warn. */
  private async replaceLapsed(job: Job<WorkerJobData>, until: number, refusal: Error): Promise<void> {
    const fields = { eventId: job.data.eventId, jobId: job.id, delayMs: Math.max(0, Math.round(until - Date.now())), refusal: refusal.message };
    const replaced = this.lapsed.replace(job, until).then(
      // added false: a worker holds a job of the event's id (handed out again and taken), which runs it.
      (added) => this.options.logger.warn("job no longer held by this worker (its lock lapsed while the run went on); the event's next run is queued as a new job", { ...fields, added }),
      (error: unknown) =>
        this.options.logger.warn("job no longer held by this worker (its lock lapsed while the run went on), and the event's next job could not be queued; the reconciler re-enqueues it", {
          ...fields,
          error,
        }),
    );
    if ((await untilAborted(replaced, this.redisLetGo.signal)) === REDIS_LET_GO) {
      this.options.logger.info('redis unreachable while draining: the event is left to the reconciler', { eventId: job.data.eventId, jobId: job.id });
    }
  }

  /**
   * Writes the job's data with `unrecorded` (see {@link UnrecordedRun}), or without it, before the job waits or is
   * retried. Redis unreachable: the drain does not wait for it (as for a delay), and a write that fails is only
   * logged: the next run then claims with a new token, as before such runs were carried (the store's statements
   * never take a carried run that no longer applies for a current one, so a stale one left in the data is harmless).
   */
  private async carry(job: Job<WorkerJobData>, unrecorded: UnrecordedRun | undefined): Promise<void> {
    const { unrecorded: _earlier, ...data } = job.data;
    const written = job.updateData(unrecorded ? { ...data, unrecorded } : data).then(
      () => undefined,
      (error: unknown) => this.options.logger.warn("could not keep the run's unwritten end with its job", { eventId: job.data.eventId, jobId: job.id, error }),
    );
    await untilAborted(written, this.redisLetGo.signal);
  }

  /** How long a job waits for the database: its backoff's base delay, within 1 to 30 s, spread ±20%. */
  private databaseWait(job: Job<WorkerJobData>): number {
    const { base } = retryBackoffOf(job);
    return Math.min(30_000, Math.max(1000, base)) * (0.8 + Math.random() * 0.4);
  }

  /**
   * How long a failed (not final) attempt's retry must wait when BullMQ's own backoff cannot be trusted with it;
   * undefined when it can (BullMQ then retries after its backoff, counting the attempt).
   *
   * BullMQ's backoff grows with the job's attemptsMade, which a retry delayed here (job.moveToDelayed) does not
   * advance. Once one retry was delayed so, BullMQ's count trails the event's (PostgreSQL's) and every later backoff
   * of BullMQ's would be computed as if for an earlier attempt: a destination answering `429 Retry-After: 1` was
   * retried every second. So BullMQ's backoff is used only while its count is the event's and a Retry-After cannot
   * outlast it; otherwise the retry waits the backoff for the event's own attempt count or the Retry-After, whichever
   * is longer (a Retry-After only ever delays an attempt). Nor is it used once the job's own attempts are used up
   * (BullMQ would fail the job, not retry it): the event may have attempts left under JOB_ATTEMPTS as it is now.
   */
  private retryDelayBullmqCannotKeep(job: Job<WorkerJobData>, error: DeliveryFailedError): number | undefined {
    const backoff = retryBackoffOf(job);
    const retryAfterMs = error.retryAfterMs ?? 0;
    const countsInStep = job.attemptsMade + 1 >= error.attempt;
    const bullmqRetries = job.attemptsMade + 1 < (job.opts.attempts ?? 1);
    if (bullmqRetries && countsInStep && retryAfterMs <= shortestRetryDelay(backoff, job.attemptsMade + 1)) return undefined;
    return Math.max(retryDelay(backoff, error.attempt), retryAfterMs);
  }

  private setActive(delta: number): void {
    this.active += delta;
    this.options.onActiveJobsChange?.(this.active);
    if (this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/** What {@link connectionLost} resolves with. */
const CONNECTION_LOST = Symbol('connection lost');

/** Resolves once `connection` closes (ioredis then retries it on its own); `stopWatching` removes the listeners. */
function connectionLost(connection: Redis): { happened: Promise<typeof CONNECTION_LOST>; stopWatching: () => void } {
  let onLost!: () => void;
  const happened = new Promise<typeof CONNECTION_LOST>((resolve) => {
    onLost = () => resolve(CONNECTION_LOST);
    connection.once('close', onLost);
    connection.once('end', onLost);
  });
  return {
    happened,
    stopWatching: () => {
      connection.off('close', onLost);
      connection.off('end', onLost);
    },
  };
}

/** `work`'s outcome, or {@link REDIS_LET_GO} once `signal` is aborted first; the listener is removed either way. */
async function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | typeof REDIS_LET_GO> {
  if (signal.aborted) return REDIS_LET_GO;
  let onAbort!: () => void;
  const aborted = new Promise<typeof REDIS_LET_GO>((resolve) => signal.addEventListener('abort', (onAbort = () => resolve(REDIS_LET_GO)), { once: true }));
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
