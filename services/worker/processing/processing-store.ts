import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { MicroBatcher } from '../../shared/batching/micro-batcher.js';
import { withRowFallback } from '../../shared/batching/row-fallback.js';
import { isRowDataError } from '../../shared/database/database-errors.js';
import { withReconnects } from '../../shared/database/with-reconnects.js';
import { destinationHeldSince } from '../../shared/destinations/held-events.js';
import type { Logger } from '../../shared/logging/logger.js';
import type { DeliveryResult } from '../delivery/delivery-result.js';
import type { ClaimIdentity, RunEnd } from './unrecorded-run.js';

/** The event as a worker claims it. */
export interface ClaimedEvent {
  id: string;
  provider: string;
  eventType: string;
  rawBody: Buffer;
  contentType: string;
  /** This attempt's number (1 on the first; again 1 after a replay). */
  attempts: number;
  /** The event's replay round (0 before any replay), recorded with each attempt. */
  replays: number;
  traceparent: string | null;
  /** The correlation id of the request that brought the event (its worker log lines carry it too). */
  correlationId: string | null;
  /** Destinations that already took this event (since its last replay of a COMPLETED event). */
  delivered: string[];
  /**
   * Destinations the event was already waiting for when this attempt claimed it (paused, circuit open, rate limited,
   * state unreadable): a wait for one of them continues that hold rather than putting the delivery off anew.
   */
  heldFor: string[];
  /**
   * When this attempt claimed the event (PostgreSQL's text form, microseconds kept): with `replays` and `attempts`, the
   * claim's identity, which the finish must find still in place.
   */
  claimedAt: string;
  /**
   * The token this claim wrote (`claim_token`): a claim of another run (the job handed out again after its lock
   * lapsed) writes its own, so the event still carrying it means this claim still holds the event.
   */
  claimToken: string;
  /**
   * The claim found the event's last attempt (JOB_ATTEMPTS) made by a run that never finished it (its worker killed or
   * stalled) and ended it DEAD_LETTER itself, counting no attempt: nothing is to be sent.
   */
  deadLettered: boolean;
}

/** How an attempt leaves the event: PENDING when it only waited (a destination paused, open or rate limited). */
export type FinishedStatus = 'COMPLETED' | 'FAILED' | 'DEAD_LETTER' | 'PENDING';

/** What else a finish records. */
export interface FinishOptions {
  /** The attempt is given back (the claim counted it): the event only waited, nothing failed that counts. */
  giveBackAttempt?: boolean;
  /** Destinations the event waits for (paused, circuit open, rate limited); empty or absent: none. */
  heldFor?: string[];
}

interface ClaimRow {
  id: string;
  provider: string;
  event_type: string;
  raw_body: Buffer;
  content_type: string;
  attempts: number;
  replays: number;
  traceparent: string | null;
  correlation_id: string | null;
  delivered: string[] | null;
  held_for: string[] | null;
  claimed_at: string;
  status: string;
  /** Left by the claim for a write committed under it (see CLAIM): claimed again by a new statement. */
  raced: boolean;
}

// Every statement here finds its rows by id, through the primary key. Their status guards compare `e.status || ''`,
// not the bare column, so that the planner cannot read them through the partial indexes on unfinished events
// (`status <> 'COMPLETED'`, for the console): the statistics are gathered while nearly every row is COMPLETED, so
// during a backlog (an outage, workers scaled to zero) the planner believed those indexes nearly empty and read the
// whole backlog through them on every claim and finish, to find a batch of rows. That made a drain quadratic.

// Claiming is one statement: the status guard means a stale or duplicate job finds no row and does nothing.
// PROCESSING is claimable because a job whose worker died comes back through BullMQ's stalled-job check.
// A job claims the event only in its own replay round (`replays`): PROCESSING being claimable, a job of an earlier
// round (handed out again after its worker's run outlived a replay, say) would otherwise run the event a second time
// next to the round's own job. With it, each round is processed by one job (its id is the round's, eventJobId).
// Concurrent jobs' claims share the statement (one round trip and one commit for the lot); each row is
// claimed by the same guarded UPDATE as on its own.
// Each claim carries a token of its own (`claim_token`, chosen before the first send). A claim is sent again when its
// connection broke (withReconnects), and the first send may have committed before its answer was lost: the event is
// then PROCESSING with this claim's token, and the claim takes it as it stands (same attempt number, same claim time:
// the identity its finish guards on) rather than counting a second attempt for the one being made, which skipped an
// attempt number and dead-lettered the event one real attempt early. Any other claim in between wrote its own token.
// A claim taking over from a run that held the event only waiting for destinations' slots (`claim_waiting`: it had
// sent nothing, and every delivery it still ran waited) does not count an attempt either: that run made none (its
// worker was killed while they waited). A run clears the flag (HOLDS) before any delivery sends and never sets it
// again after one made an attempt (claim-wait-mark.ts), so a takeover after a send still counts.
// A claim taking over from a run that did make an attempt, the event's last (`attempts` at or past the claim's
// `lastAttempt`, JOB_ATTEMPTS), sends nothing: it ends the event DEAD_LETTER itself, with no attempt counted and
// WORKER_STOPPED_LAST_ATTEMPT as its last error. That run's worker was killed (SIGKILL, out of memory) or stalled past
// its job lock during the attempt; before, each takeover counted one more and sent the event again, so an event whose
// processing kills its worker (a poison event) was sent again by every worker it crash-looped, without end. A drain
// does not trip it: a stopping worker ends the attempts it started and gives back those it did not (PENDING again).
// A re-sent claim whose first send dead-lettered the event (its token, DEAD_LETTER) finds it as it left it, so the
// dead letter is reported (and counted) once. Its own claim or a waiting run's takeover is never the takeover of an
// attempt made, so both cases above come first in every CASE.
// The same token also comes from the job's next run, when this run's claim (or a statement after it) could not be
// written past the reconnects (UnrecordedRun): that run then continues this claim rather than taking it over. Its own
// only while the claim left it so (PROCESSING, or DEAD_LETTER by the claim): once a finish moved the event on, the
// token, carried on by a job whose data could not be cleared, claims it as any other would.
// A claim leaves alone an event PROCESSING under another token whose claim or heartbeat (`claim_heartbeat_at`, which
// the claim sets and the run's worker refreshes while the run lasts: claim-heartbeat.ts) is more recent than the
// live-claim window ($6, two fifths of WORKER_LOCK_DURATION_MS; NULL: no window): that run is alive and ends the event
// itself, so this job is a duplicate (the reconciler's, for a job Redis lost with its data; or the stalled check's, for
// a worker that could not renew its job locks in Redis but still reaches PostgreSQL): taking over cut the live run
// off, and on its last attempt dead-lettered the event as if its worker had died. The job ends doing nothing.
// A run whose worker died or stalled stops refreshing: BullMQ's stalled-job check hands its job out again only once the
// job's lock has gone unrenewed for a whole lock duration, by when the heartbeat is older than the window, and the
// takeover goes on as described above.
const LIVE_ELSEWHERE = `((e.status || '') = 'PROCESSING' AND e.claim_token IS DISTINCT FROM j.token AND $6::float8 IS NOT NULL
                          AND greatest(e.updated_at, e.claim_heartbeat_at) > now() - make_interval(secs => $6::float8 / 1000))`;
const OWN_CLAIM = `(e.claim_token = j.token AND (e.status || '') IN ('PROCESSING', 'DEAD_LETTER'))`;
const TAKES_OVER_LAST_ATTEMPT = `(e.status || '') = 'PROCESSING' AND NOT e.claim_waiting AND e.attempts >= j.last_attempt`;
// The destinations that have the event (`delivered`) are read in the claim's statement, from its snapshot. A claim that
// waited for the row behind a write committed meanwhile (a run gone quiet writing its end while this claim takes it
// over: its finish recorded deliveries) has it checked again by PostgreSQL on the row as that write left it, which may
// still be claimable (FAILED, PENDING), while the attempts the write recorded are not in the snapshot: the claim took
// the event without them, and its run sent the event again to destinations PostgreSQL recorded as having it. So the
// claim takes only a row still as its snapshot has it (`xmin`, the version, read again through the snapshot: the row
// PostgreSQL re-checked is the newer one), and says which rows it left for that reason (`raced`: claimable in its
// snapshot, not claimed); they are claimed again by a new statement, whose snapshot has the write.
const CLAIMABLE = `e.id = j.id AND e.replays = j.replays
            AND ((e.status || '') IN ('PENDING', 'FAILED', 'PROCESSING') OR (e.claim_token = j.token AND (e.status || '') = 'DEAD_LETTER'))
            AND NOT ${LIVE_ELSEWHERE}`;
const CLAIM = {
  name: 'claim-events-v11',
  text: `WITH j AS (
           SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::int[]) AS j(id, replays, token, last_attempt)
         ), claimed AS (
         UPDATE webhook_events e
            SET status = CASE WHEN ${OWN_CLAIM} THEN e.status
                              WHEN ${TAKES_OVER_LAST_ATTEMPT} THEN 'DEAD_LETTER'
                              ELSE 'PROCESSING' END,
                claim_token = j.token, claim_waiting = false, claim_heartbeat_at = now(),
                attempts = CASE WHEN ${OWN_CLAIM} THEN e.attempts
                                WHEN (e.status || '') = 'PROCESSING' AND e.claim_waiting THEN e.attempts
                                WHEN ${TAKES_OVER_LAST_ATTEMPT} THEN e.attempts
                                ELSE e.attempts + 1 END,
                last_error = CASE WHEN ${OWN_CLAIM} THEN e.last_error
                                  WHEN ${TAKES_OVER_LAST_ATTEMPT} THEN $5
                                  ELSE e.last_error END,
                held_for = CASE WHEN ${OWN_CLAIM} THEN e.held_for WHEN ${TAKES_OVER_LAST_ATTEMPT} THEN NULL ELSE e.held_for END,
                held_since = CASE WHEN ${OWN_CLAIM} THEN e.held_since WHEN ${TAKES_OVER_LAST_ATTEMPT} THEN NULL ELSE e.held_since END,
                updated_at = CASE WHEN ${OWN_CLAIM} THEN e.updated_at ELSE now() END
           FROM j
          WHERE ${CLAIMABLE}
            AND e.xmin = (SELECT s.xmin FROM webhook_events s WHERE s.id = e.id)
      RETURNING e.id, e.provider, e.event_type, e.raw_body, e.content_type, e.attempts, e.replays, e.traceparent,
                e.correlation_id, e.held_for, e.updated_at::text AS claimed_at, e.status,
                ARRAY(SELECT DISTINCT d.destination FROM delivery_attempts d
                       WHERE d.event_id = e.id AND d.succeeded
                         AND d.at >= coalesce(e.replayed_at, '-infinity'::timestamptz)) AS delivered
         )
         SELECT *, false AS raced FROM claimed
          UNION ALL
         SELECT e.id, NULL, NULL, NULL, NULL, NULL, e.replays, NULL, NULL, NULL, NULL, NULL, NULL, true
           FROM webhook_events e, j
          WHERE ${CLAIMABLE} AND NOT EXISTS (SELECT 1 FROM claimed c WHERE c.id = e.id)`,
};

/** How many times a claim goes again for rows changed under it (see CLAIM): once is all a race takes. */
const RACED_CLAIM_RETRIES = 2;

/** The last error of an event a claim dead-lettered without sending it: the run before it used the last attempt. */
export const WORKER_STOPPED_LAST_ATTEMPT =
  'the worker stopped during the last attempt (killed, out of memory, or stalled past WORKER_LOCK_DURATION_MS); not sent again';

// Since when a finish that leaves the event waiting for `heldFor` (comma-joined; '' for none) has it wait for each of
// them: `held_since_by_destination` (destination name to time), and `held_since` the earliest of those (what workers
// and readers older than that column read). A destination that stays in the wait keeps its time (as
// destinationHeldSince reads it, so a row an older worker wrote goes on from its `held_since`); one that joins the
// wait starts at now(). The console, the admin API (`waiting.oldestSince`) and
// webhook_destination_oldest_waiting_age_seconds read each destination's own time (min over the events waiting for it).
// With one time per event, one destination's wait was told for all: kept as long as the event waited for anything
// (until finish-event-attempts-v5), an event held an hour by a paused destination counted an hour for one that joined
// the wait a moment ago; started anew when one joined (v6), the paused destination looked seconds old, and
// WebhookDestinationHeldTooLong waited for it an hour more.
const HELD_DESTINATIONS = (heldFor: string) => `unnest(string_to_array(${heldFor}, ',')) AS held(destination)`;
const HELD_DESTINATION_SINCE = `CASE WHEN held.destination = ANY(coalesce(e.held_for, '{}'))
                                     THEN coalesce(${destinationHeldSince('e', 'held.destination')}, now())
                                     ELSE now() END`;
const heldSinceByDestination = (heldFor: string) =>
  `CASE WHEN ${heldFor} = '' THEN NULL
        ELSE (SELECT jsonb_object_agg(held.destination, ${HELD_DESTINATION_SINCE}) FROM ${HELD_DESTINATIONS(heldFor)}) END`;
const heldSince = (heldFor: string) =>
  `CASE WHEN ${heldFor} = '' THEN NULL
        ELSE (SELECT min(${HELD_DESTINATION_SINCE}) FROM ${HELD_DESTINATIONS(heldFor)}) END`;

// Recording the attempts and the new status is one round trip for every attempt finishing together. The guard is the
// claim's identity: PROCESSING, in the claim's replay round, with the attempt number and the time (`updated_at`) the
// claim set. Only claims, finishes and replays write an event, so no other run's claim matches it: a late finish of
// an earlier round (its run outlived a replay), or of a run whose claim was taken over in the same round (its lock
// expired, the job was handed out again), moves nothing, where `status = 'PROCESSING'` alone let it overwrite the
// current claim's event. The attempt number tells two claims in one microsecond apart.
// A waiting event's claim is given back (`give_back` 1) in the same statement, so its attempt counter does not grow;
// `held_for` (comma-joined: destination names have no comma) lists what it waits for, `held_since` and
// `held_since_by_destination` since when (above).
// Attempt rows are recorded only for the events the statement moved: a refused finish's rows would count as the
// deliveries of whatever round holds the event now (`delivered` is the successes since the last replay), so that round
// would skip destinations it never sent to.
const FINISH_EVENTS = `WITH finished AS (
           UPDATE webhook_events e SET status = f.status, last_error = f.last_error, updated_at = now(),
                                attempts = e.attempts - f.give_back,
                                held_for = string_to_array(nullif(f.held_for, ''), ','),
                                held_since = ${heldSince('f.held_for')},
                                held_since_by_destination = ${heldSinceByDestination('f.held_for')}
             FROM unnest($1::uuid[], $2::int[], $3::int[], $4::timestamptz[], $5::text[], $6::text[], $7::int[], $8::text[])
                    AS f(id, replays, attempt, claimed_at, status, last_error, give_back, held_for)
            WHERE e.id = f.id AND (e.status || '') = 'PROCESSING'
              AND e.replays = f.replays AND e.attempts = f.attempt AND e.updated_at = f.claimed_at
        RETURNING e.id, f.replays, f.attempt
         ), recorded AS (
           INSERT INTO delivery_attempts (event_id, destination, attempt, succeeded, status_code, error, duration_ms, replay)
           SELECT d.event_id, d.destination, finished.attempt, d.succeeded, d.status_code, d.error, d.duration_ms, finished.replays
             FROM unnest($9::uuid[], $10::text[], $11::bool[], $12::int[], $13::text[], $14::int[])
                    AS d(event_id, destination, succeeded, status_code, error, duration_ms)
             JOIN finished ON finished.id = d.event_id
         )`;

const FINISH = {
  name: 'finish-event-attempts-v7',
  text: `${FINISH_EVENTS}
         SELECT id FROM finished`,
};

// The same, sent again after the connection broke under the first. That one may have committed before its answer was
// lost: then the guard finds the claim gone and records nothing twice, and the event is found as that finish left it
// (its status, in the claim's round, its attempt counter less what it gave back), so the finish is still reported as
// landed. No other run can leave it so: every later claim adds one to the counter, and gives back at most that one.
// (Had a later claim come meanwhile, the finish is reported as moved on: by then it had.)
// (The plain SELECT reads the statement's snapshot, from before `finished`: an event moved now is PROCESSING there.)
const FINISH_AGAIN = {
  name: 'finish-event-attempts-again-v7',
  text: `${FINISH_EVENTS}
         SELECT id FROM finished
          UNION ALL
         SELECT e.id FROM webhook_events e
           JOIN unnest($1::uuid[], $2::int[], $3::int[], $5::text[], $7::int[]) AS f(id, replays, attempt, status, give_back)
             ON e.id = f.id
          WHERE (e.status || '') = f.status AND e.replays = f.replays AND e.attempts = f.attempt - f.give_back`,
};

// A finish a run could not write (PostgreSQL unreachable past the reconnects), written by its job's next run
// (UnrecordedRun): the same write as FINISH, under the same guard and the old claim's token besides, and it hands the
// event's token on to the new run (`next_token`). The event moved by it, or found as that finish left it (it landed
// before its answer was lost: its status, round and attempt counter, and still the old claim's token, which only a
// later claim replaces), counts as landed; the token handed on makes that answer once only: sent again after a lost
// connection it is the new run's token, and a later run of the job, carrying the same finish still (its data could
// not be cleared), finds neither and claims as usual. The two UPDATEs read one snapshot, where an event is either
// still PROCESSING (the first) or not (the second): they never both move it. The attempt rows are inserted only with
// the move, so nothing is recorded twice.
const REFINISH = {
  name: 'refinish-event-attempt-v3',
  text: `WITH finished AS (
           UPDATE webhook_events e SET status = $5::text, last_error = $6::text, updated_at = now(),
                                attempts = e.attempts - $7::int,
                                held_for = string_to_array(nullif($8::text, ''), ','),
                                held_since = ${heldSince('$8::text')},
                                held_since_by_destination = ${heldSinceByDestination('$8::text')},
                                claim_token = $10::uuid
            WHERE e.id = $1::uuid AND (e.status || '') = 'PROCESSING' AND e.claim_token = $9::uuid
              AND e.replays = $2::int AND e.attempts = $3::int AND e.updated_at = $4::timestamptz
        RETURNING e.id
         ), recorded AS (
           INSERT INTO delivery_attempts (event_id, destination, attempt, succeeded, status_code, error, duration_ms, replay)
           SELECT finished.id, d.destination, $3::int, d.succeeded, d.status_code, d.error, d.duration_ms, $2::int
             FROM unnest($11::text[], $12::bool[], $13::int[], $14::text[], $15::int[])
                    AS d(destination, succeeded, status_code, error, duration_ms)
            CROSS JOIN finished
         ), landed AS (
           UPDATE webhook_events e SET claim_token = $10::uuid
            WHERE e.id = $1::uuid AND (e.status || '') = $5::text AND e.claim_token IN ($9::uuid, $10::uuid)
              AND e.replays = $2::int AND e.attempts = $3::int - $7::int
        RETURNING e.id
         )
         SELECT id FROM finished UNION ALL SELECT id FROM landed`,
};

// The claim of a run that ended by throwing before it wrote its end (an unexpected error in the worker's own code, a
// destination adapter throwing something unforeseen; not PostgreSQL unreachable, which UnrecordedRun carries), given up
// under the claim's identity and its token, so that no other run's claim is ever touched. Before, the claim and its
// heartbeat stayed fresh behind such a run: its job's retry, after its backoff, met a "live" run (LIVE_ELSEWHERE) and
// ended skipped, and the event waited for the reconciler (RECONCILER_STALE_MS, and up to an interval more). Now the
// retry claims it at once. The attempt is counted as failed, the run's error its last error: FAILED, or DEAD_LETTER
// when it was the last ($6, `final`; nothing held then, as a final finish). A run whose every destination left took the
// event ($13, `completed`: only its finish threw) is COMPLETED, as that finish would have left it (released FAILED, its
// retry found nothing left to send; on the last attempt the event was dead-lettered though delivered everywhere). A run
// that had only waited for its destinations' slots, nothing sent (`claim_waiting`, see CLAIM) made no attempt: it is
// given back (PENDING), as a takeover would count none. The run's deliveries that ended in an attempt ($8…$12: those
// that settled beside the one that threw, or all of them when the finish threw) are recorded with it, as a finish
// records them, so the retry sends only to the destinations that did not take the event; release-claim-v1 recorded
// none, and the retry sent again to every destination the run had delivered to. They are recorded only with the move,
// as in FINISH. Sent again after a lost connection, it finds the claim gone (the first send landed, or another run's
// claim came) and does nothing: the run's error then goes to BullMQ as it was, and the job's retry claims the event
// released or finds it held by the run that took it.
const RELEASE = {
  name: 'release-claim-v2',
  text: `WITH released AS (
           UPDATE webhook_events e
              SET status = CASE WHEN $13::bool THEN 'COMPLETED' WHEN e.claim_waiting THEN 'PENDING' WHEN $6::bool THEN 'DEAD_LETTER' ELSE 'FAILED' END,
                  attempts = CASE WHEN NOT $13::bool AND e.claim_waiting THEN e.attempts - 1 ELSE e.attempts END,
                  last_error = CASE WHEN $13::bool THEN NULL ELSE $7::text END,
                  held_for = CASE WHEN $13::bool OR ($6::bool AND NOT e.claim_waiting) THEN NULL ELSE e.held_for END,
                  held_since = CASE WHEN $13::bool OR ($6::bool AND NOT e.claim_waiting) THEN NULL ELSE e.held_since END,
                  held_since_by_destination = CASE WHEN $13::bool OR ($6::bool AND NOT e.claim_waiting) THEN NULL ELSE e.held_since_by_destination END,
                  claim_waiting = false, updated_at = now()
            WHERE e.id = $1::uuid AND (e.status || '') = 'PROCESSING' AND e.claim_token = $5::uuid
              AND e.replays = $2::int AND e.attempts = $3::int AND e.updated_at = $4::timestamptz
        RETURNING e.id, e.status
         ), recorded AS (
           INSERT INTO delivery_attempts (event_id, destination, attempt, succeeded, status_code, error, duration_ms, replay)
           SELECT released.id, d.destination, $3::int, d.succeeded, d.status_code, d.error, d.duration_ms, $2::int
             FROM unnest($8::text[], $9::bool[], $10::int[], $11::text[], $12::int[])
                    AS d(destination, succeeded, status_code, error, duration_ms)
            CROSS JOIN released
         )
         SELECT status FROM released`,
};

// Whether claims still hold their events: asked only by a delivery about to send late after its claim (a worker
// stalled past its job lock meanwhile hands its jobs to another worker, whose claim writes its own token), or whose
// claim is marked waiting (the statement clears the mark), never on the way of a delivery on time. A held event's `claim_waiting` is cleared in the same statement, before
// the delivery sends (only where it is set: no row written otherwise). Both parts are idempotent, so it is safe to
// send again after a lost connection.
const HOLDS = {
  name: 'claims-hold-v2',
  text: `WITH held AS (
           SELECT e.id, c.token, e.claim_waiting FROM webhook_events e
             JOIN unnest($1::uuid[], $2::uuid[]) AS c(id, token) ON e.id = c.id
            WHERE e.claim_token = c.token AND (e.status || '') = 'PROCESSING'
         ), sending AS (
           UPDATE webhook_events e SET claim_waiting = false
             FROM held WHERE e.id = held.id AND held.claim_waiting AND e.claim_token = held.token
         )
         SELECT id, token FROM held`,
};

// Every delivery the claim still runs waits for its destination's slot, nothing sent: see CLAIM.
const MARK_WAITING = {
  name: 'claim-waiting-v1',
  text: `UPDATE webhook_events SET claim_waiting = true
          WHERE id = $1 AND claim_token = $2 AND (status || '') = 'PROCESSING'`,
};

// Why a claim found nothing to claim, asked only then (a duplicate or stale job): whether a live run of another claim
// holds the event (LIVE_ELSEWHERE). For the log line; by primary key.
const HELD_BY_LIVE_RUN = {
  name: 'held-by-live-run-v1',
  text: `SELECT 1 FROM webhook_events e, (SELECT $2::int AS replays, $3::uuid AS token) j
          WHERE e.id = $1::uuid AND e.replays = j.replays AND ${LIVE_ELSEWHERE.replaceAll('$6', '$4')}`,
};

/** What a job asks to claim: its event, in its replay round. */
interface ClaimRequest {
  eventId: string;
  replays: number;
  /** This claim's own token: the same on every send of it, so that a re-send recognises the claim it already made. */
  token: string;
  /** The event's last attempt (JOB_ATTEMPTS); null: no limit (the takeover of an attempt made always sends). */
  lastAttempt: number | null;
}

interface FinishItem {
  event: ClaimedEvent;
  results: DeliveryResult[];
  status: FinishedStatus;
  lastError: string | null;
  options: FinishOptions;
}

export interface ProcessingStoreOptions {
  /** Largest claim or finish batch. */
  maxBatchSize?: number;
  /** Claim (and, separately, finish) statements in flight at once. */
  maxConcurrentFlushes?: number;
  /** Told of each statement sent again after a lost connection. */
  logger?: Logger;
  /**
   * A claim leaves an event PROCESSING under another claim to that claim's run while its claim or heartbeat is more
   * recent than this (liveClaimWindowMs of WORKER_LOCK_DURATION_MS, claim-heartbeat.ts). Absent: it takes any
   * PROCESSING event (as tests that stand for a dead worker's run by a claim made a moment ago need).
   */
  liveClaimWindowMs?: number;
}

/**
 * The worker's reads and writes of an event. Claims and finishes of concurrent jobs are group-committed
 * ({@link MicroBatcher}): at low load each goes alone at the end of the event-loop turn; under load, many jobs share
 * one statement. A batch that fails on one row's data (SQLSTATE class 22/23) is retried row by row, so only the
 * culprit's job fails (a finish refused on its own is tried once more without its error texts first). A statement whose connection broke (a killed session, a failover) is sent again on a fresh
 * pooled connection for a few seconds before its jobs fail: a lost connection is not a failed delivery, and failing
 * the job after its deliveries succeeded would send them again.
 */
export class ProcessingStore {
  private readonly claims: MicroBatcher<ClaimRequest, ClaimedEvent | undefined>;
  private readonly finishes: MicroBatcher<FinishItem, boolean>;
  private readonly holdChecks: MicroBatcher<ClaimedEvent, boolean>;
  private readonly logger: Logger | undefined;
  private readonly liveClaimWindowMs: number | null;

  constructor(
    private readonly pool: Pool,
    options: ProcessingStoreOptions = {},
  ) {
    this.logger = options.logger;
    this.liveClaimWindowMs = options.liveClaimWindowMs ?? null;
    const maxBatchSize = options.maxBatchSize ?? 100;
    const maxConcurrentFlushes = options.maxConcurrentFlushes ?? 2;
    const again = (what: string) => (error: unknown, attempt: number) =>
      options.logger?.warn(`${what} lost its database connection; sending it again`, { attempt, error });
    this.claims = new MicroBatcher({
      maxBatchSize,
      maxConcurrentFlushes,
      flush: (requests) => withReconnects(() => withRowFallback(requests, (batch) => this.claimBatch(batch)), again('claim')),
    });
    this.finishes = new MicroBatcher({
      maxBatchSize,
      maxConcurrentFlushes,
      flush: (items) =>
        withReconnects(
          (retry) => withRowFallback(items, (batch) => this.finishBatch(batch, retry), (item) => this.finishAlone(item, retry)),
          again('finish'),
        ),
    });
    // Deliveries of one worker woken together (a destination's slots passing on) share one statement.
    this.holdChecks = new MicroBatcher({
      maxBatchSize,
      maxConcurrentFlushes,
      flush: (events) => withReconnects(() => this.holdBatch(events), again('claim check')),
    });
  }

  /**
   * Moves the event to PROCESSING and counts the attempt; undefined when it is finished already, or in another replay
   * round than `replays` (a stale job), or held by a live run of another claim (see `liveClaimWindowMs`). With
   * `lastAttempt` (JOB_ATTEMPTS), an event still PROCESSING under a run that made its last attempt is instead ended
   * DEAD_LETTER, no attempt counted (`deadLettered`: send nothing). `token`: an earlier run's of this job whose claim
   * may have landed unanswered (UnrecordedRun), else a new one.
   */
  claim(eventId: string, replays = 0, lastAttempt?: number, token: string = randomUUID()): Promise<ClaimedEvent | undefined> {
    return this.claims.submit({ eventId, replays, token, lastAttempt: lastAttempt ?? null });
  }

  /**
   * Whether a live run of another claim holds the event (PROCESSING, its claim or heartbeat within the live-claim
   * window): asked when {@link claim} found nothing to claim, to say why. False without a window.
   */
  async heldByLiveRun(eventId: string, replays: number, token: string): Promise<boolean> {
    if (this.liveClaimWindowMs === null) return false;
    const { rowCount } = await this.pool.query({ ...HELD_BY_LIVE_RUN, values: [eventId, replays, token, this.liveClaimWindowMs] });
    return (rowCount ?? 0) > 0;
  }

  /**
   * Whether this claim still holds its event (PROCESSING under its token); false once another run claimed it, or it
   * was finished or replayed meanwhile. Clears the event's `claim_waiting` (see {@link markWaiting}) when it holds.
   * One statement per batch: only deliveries late after their claim, or clearing their claim's waiting mark, ask.
   */
  stillHolds(event: ClaimedEvent): Promise<boolean> {
    return this.holdChecks.submit(event);
  }

  /**
   * Notes that every delivery this claim still runs waits for its destination's slot, nothing sent (see
   * ClaimWaitMark): should the worker die before one sends, the next claim counts no attempt for this one.
   * {@link stillHolds} clears it before the send.
   */
  async markWaiting(event: ClaimedEvent): Promise<void> {
    await this.pool.query({ ...MARK_WAITING, values: [event.id, event.claimToken] });
  }

  /** The parsed payload, for in-process handlers (HTTP forwarding only needs the raw bytes). */
  async payload(eventId: string): Promise<unknown> {
    const { rows } = await this.pool.query('SELECT payload FROM webhook_events WHERE id = $1', [eventId]);
    return rows[0]?.payload;
  }

  /**
   * Records this attempt's deliveries and the event's new status; false, recording nothing, when this attempt no
   * longer holds the event (finished by another run, claimed again, replayed).
   */
  finish(event: ClaimedEvent, results: DeliveryResult[], status: FinishedStatus, lastError: string | null, options: FinishOptions = {}): Promise<boolean> {
    return this.finishes.submit({ event, results, status, lastError, options });
  }

  /**
   * Writes the finish of an earlier run of this job that PostgreSQL did not take (see {@link UnrecordedRun}), under
   * that run's claim, and hands the event's token on to `nextToken` (this run's); true when it landed now or had
   * landed before its answer was lost. False, writing nothing, when the event is no longer that claim's (claimed
   * again, replayed): the caller then claims as usual. Not batched: only a job whose run lost the database sends it.
   */
  refinish(claim: ClaimIdentity, end: RunEnd, nextToken: string): Promise<boolean> {
    const again = (error: unknown, attempt: number) => this.logger?.warn('earlier finish lost its database connection; sending it again', { attempt, error });
    return withReconnects(async () => {
      const { rows } = await this.pool.query({
        ...REFINISH,
        values: [
          claim.eventId,
          claim.replays,
          claim.attempt,
          claim.claimedAt,
          end.status,
          storableText(end.lastError),
          end.giveBackAttempt ? 1 : 0,
          end.heldFor.join(','),
          claim.claimToken,
          nextToken,
          end.results.map((result) => result.destination),
          end.results.map((result) => result.succeeded),
          end.results.map((result) => result.statusCode),
          end.results.map((result) => storableText(result.error)),
          end.results.map((result) => result.durationMs),
        ],
      });
      return rows.length > 0;
    }, again);
  }

  /**
   * Gives up the claim of a run that ended by throwing before it wrote its end (see RELEASE), so that its job's retry
   * claims the event at once: the event is FAILED (DEAD_LETTER when `final`) with `lastError`, or PENDING with the
   * attempt given back when the run had only waited for slots, or COMPLETED when every destination left took it
   * (`completed`: only the run's finish threw). `results`: the run's deliveries that ended in an
   * attempt, recorded with it (the retry skips those that succeeded). Returns that status; undefined, writing nothing,
   * when the event is no longer that claim's (claimed again, finished, replayed). Not batched: only such runs send it.
   */
  releaseClaim(
    claim: ClaimIdentity,
    { final, completed = false }: { final: boolean; completed?: boolean },
    lastError: string,
    results: DeliveryResult[] = [],
  ): Promise<FinishedStatus | undefined> {
    const again = (error: unknown, attempt: number) => this.logger?.warn('claim release lost its database connection; sending it again', { attempt, error });
    return withReconnects(async () => {
      const { rows } = await this.pool.query<{ status: FinishedStatus }>({
        ...RELEASE,
        values: [
          claim.eventId,
          claim.replays,
          claim.attempt,
          claim.claimedAt,
          claim.claimToken,
          final,
          storableText(lastError),
          results.map((result) => result.destination),
          results.map((result) => result.succeeded),
          results.map((result) => result.statusCode),
          results.map((result) => storableText(result.error)),
          results.map((result) => result.durationMs),
          completed,
        ],
      });
      return rows[0]?.status;
    }, again);
  }

  /**
   * {@link claimOnce}, then once more (a new statement) for the events a write changed under the claim (see CLAIM), so
   * that it reads the deliveries that write recorded.
   */
  private async claimBatch(requests: ClaimRequest[]): Promise<(ClaimedEvent | undefined)[]> {
    const claims: (ClaimedEvent | undefined)[] = new Array(requests.length).fill(undefined);
    let pending = requests.map((request, index) => ({ request, index }));
    for (let round = 0; round <= RACED_CLAIM_RETRIES && pending.length > 0; round++) {
      const { claimed, raced } = await this.claimOnce(pending.map(({ request }) => request));
      for (const [position, { index }] of pending.entries()) claims[index] = claimed[position];
      pending = pending.filter((_, position) => raced[position]);
    }
    return claims;
  }

  private async claimOnce(requests: ClaimRequest[]): Promise<{ claimed: (ClaimedEvent | undefined)[]; raced: boolean[] }> {
    // Sorted, like the finish batch: concurrent statements lock shared rows in one order, so they cannot deadlock.
    // Each (event, round) once, with its first request's token: an UPDATE … FROM joining a row twice would update it
    // once anyway.
    const byRound = new Map<string, ClaimRequest>();
    for (const request of requests) {
      const key = `${request.eventId}/${request.replays}`;
      if (!byRound.has(key)) byRound.set(key, request);
    }
    const unique = [...byRound.values()].sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : a.replays - b.replays));
    const { rows } = await this.pool.query<ClaimRow>({
      ...CLAIM,
      values: [unique.map((r) => r.eventId), unique.map((r) => r.replays), unique.map((r) => r.token), unique.map((r) => r.lastAttempt), WORKER_STOPPED_LAST_ATTEMPT, this.liveClaimWindowMs],
    });
    const byId = new Map(rows.filter((row) => !row.raced).map((row) => [row.id, row]));
    const racedRounds = new Set(rows.filter((row) => row.raced).map((row) => `${row.id}/${row.replays}`));
    // Only its first request goes again (the others of the same round are duplicates, as below).
    const raced = requests.map(({ eventId, replays }, index) => racedRounds.has(`${eventId}/${replays}`) && byRound.get(`${eventId}/${replays}`) === requests[index]);
    // The same event twice in one batch (a duplicate job): the row was claimed once, by the first of them;
    // the others are stale and skip, as they would had they come a moment later. A job of another round skips too.
    const events = requests.map(({ eventId, replays }): ClaimedEvent | undefined => {
      const row = byId.get(eventId);
      const claimed = byRound.get(`${eventId}/${replays}`);
      if (!row || row.replays !== replays || !claimed) return undefined;
      byId.delete(eventId);
      return {
        id: row.id,
        provider: row.provider,
        eventType: row.event_type,
        rawBody: row.raw_body,
        contentType: row.content_type,
        attempts: row.attempts,
        replays: row.replays,
        traceparent: row.traceparent,
        correlationId: row.correlation_id,
        delivered: row.delivered ?? [],
        heldFor: row.held_for ?? [],
        claimedAt: row.claimed_at,
        claimToken: claimed.token,
        deadLettered: row.status === 'DEAD_LETTER',
      };
    });
    return { claimed: events, raced };
  }

  private async holdBatch(events: ClaimedEvent[]): Promise<boolean[]> {
    const { rows } = await this.pool.query<{ id: string; token: string }>({
      ...HOLDS,
      values: [events.map((event) => event.id), events.map((event) => event.claimToken)],
    });
    // By id and token: two runs of one event (the stale one and its successor) may ask in the same batch.
    const held = new Set(rows.map((row) => `${row.id}/${row.token}`));
    return events.map((event) => held.has(`${event.id}/${event.claimToken}`));
  }

  /**
   * One finish on its own, its batch refused for one row's data. Refused itself, it is sent once more with its error
   * texts replaced by a note saying so: its deliveries went out, and failing the job for the words describing a
   * failure would send them all again on its retry (and for ever, were the words the same each time). Only a finish
   * refused for something else (a number out of range) fails its job.
   */
  private async finishAlone(item: FinishItem, again: boolean): Promise<boolean[]> {
    try {
      return await this.finishBatch([item], again);
    } catch (error) {
      if (!isRowDataError(error)) throw error;
      const note = `error text not stored: PostgreSQL refused it (SQLSTATE ${(error as { code: string }).code})`;
      this.logger?.warn('finish refused for its data; recording it again without its error texts', { eventId: item.event.id, error });
      const results = item.results.map((result) => (result.error === null ? result : { ...result, error: note }));
      return this.finishBatch([{ ...item, results, lastError: item.lastError === null ? null : note }], again);
    }
  }

  /** @param again the statement may have committed already under a connection that then broke */
  private async finishBatch(items: FinishItem[], again = false): Promise<boolean[]> {
    // One statement can move an event once; a second finish of the same event in the batch runs after it,
    // where the guard decides it exactly as two separate statements would.
    const seen = new Set<string>();
    const first: FinishItem[] = [];
    const later: FinishItem[] = [];
    for (const item of items) {
      if (seen.has(item.event.id)) later.push(item);
      else {
        seen.add(item.event.id);
        first.push(item);
      }
    }
    // In event-id order: concurrent statements then lock the rows they share in the same order (no deadlock).
    first.sort((a, b) => (a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0));
    const attempts = first.flatMap((item) => item.results.map((result) => ({ item, result })));
    const { rows } = await this.pool.query<{ id: string }>({
      ...(again ? FINISH_AGAIN : FINISH),
      values: [
        first.map((item) => item.event.id),
        first.map((item) => item.event.replays),
        first.map((item) => item.event.attempts),
        first.map((item) => item.event.claimedAt),
        first.map((item) => item.status),
        first.map((item) => storableText(item.lastError)),
        first.map((item) => (item.options.giveBackAttempt ? 1 : 0)),
        first.map((item) => (item.options.heldFor ?? []).join(',')),
        attempts.map(({ item }) => item.event.id),
        attempts.map(({ result }) => result.destination),
        attempts.map(({ result }) => result.succeeded),
        attempts.map(({ result }) => result.statusCode),
        attempts.map(({ result }) => storableText(result.error)),
        attempts.map(({ result }) => result.durationMs),
      ],
    });
    const moved = new Set(rows.map((row) => row.id));
    const outcome = new Map<FinishItem, boolean>(first.map((item) => [item, moved.has(item.event.id)]));
    for (const item of later) outcome.set(item, (await this.finishBatch([item], again))[0]!);
    return items.map((item) => outcome.get(item)!);
  }
}

/**
 * An error text as PostgreSQL's `text` takes it: NUL shown as U+FFFD. PostgreSQL refuses NUL (SQLSTATE 22021), and
 * that failed the whole finish, the attempt's rows with it, on every try: the event stayed PROCESSING, and each retry
 * and reconciler pass sent it again to the destinations that had taken it. The deliverers make their texts printable
 * where they make them (errorText); this is the net for any text that did not come through them.
 */
function storableText(text: string | null): string | null {
  return text?.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}
