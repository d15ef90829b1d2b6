import { context as otelContext, ROOT_CONTEXT } from '@opentelemetry/api';
import type { DataSource } from 'typeorm';
import { DeliveryAttemptSchema, WebhookEventSchema, type DeliveryAttempt, type WebhookEvent } from '../shared/database/entities.js';
import { EVENT_STATUSES, REPLAYABLE_STATUSES, type EventStatus } from '../shared/database/event-status.js';
import type { Logger } from '../shared/logging/logger.js';
import { RequeueError, type EventQueue } from '../shared/queue/event-queue.js';
import { decodeCursor, encodeCursor } from './event-cursor.js';
import { filterConditions, type EventFilter } from './event-filter.js';
import type { BodyView, DeliveryView, EventDetailView, EventPageView, EventView, FacetsView, StatusCountsView } from './admin-views.js';
import { describeRouting, type RoutingConfig } from './routing-view.js';

/** Counts per status stop here (see {@link EventAdminService.counts}). */
export const STATUS_COUNT_CAP = 10_000;

const toView = (event: WebhookEvent): EventView => ({
  id: event.id,
  provider: event.provider,
  externalId: event.externalId,
  eventType: event.eventType,
  status: event.status,
  attempts: event.attempts,
  replays: event.replays,
  lastError: event.lastError,
  correlationId: event.correlationId,
  traceId: event.traceId,
  receivedAt: event.receivedAt.toISOString(),
  updatedAt: event.updatedAt.toISOString(),
});

/** The list's columns: everything in {@link EventView}, never the payload or the raw body. */
const EVENT_COLUMNS = `e.id, e.provider, e.external_id, e.event_type, e.status, e.attempts, e.replays, e.last_error,
  e.correlation_id, e.trace_id, e.received_at, e.updated_at`;

interface EventRow {
  id: string;
  provider: string;
  external_id: string;
  event_type: string;
  status: EventStatus;
  attempts: number;
  replays: number;
  last_error: string | null;
  correlation_id: string | null;
  trace_id: string | null;
  received_at: Date;
  updated_at: Date;
  cursor_received_at: string;
}

const rowToView = (row: EventRow): EventView => ({
  id: row.id,
  provider: row.provider,
  externalId: row.external_id,
  eventType: row.event_type,
  status: row.status,
  attempts: row.attempts,
  replays: row.replays,
  lastError: row.last_error,
  correlationId: row.correlation_id,
  traceId: row.trace_id,
  receivedAt: row.received_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const bodyView = (raw: Buffer): BodyView => {
  try {
    return { encoding: 'utf8', data: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw), bytes: raw.length };
  } catch {
    return { encoding: 'base64', data: raw.toString('base64'), bytes: raw.length };
  }
};

/** Options beyond the database and the queue; all optional. */
export interface EventAdminOptions {
  /** ROUTES_FILE as loaded: the event detail shows which routes and destinations an event matches. */
  routes?: RoutingConfig;
  /** A tracing UI's URL with `{traceId}` in it (TRACE_URL_TEMPLATE): the detail links the event's trace. */
  traceUrlTemplate?: string;
  /** Told after a replay moved events back to PENDING (the overview in this process drops the answers it reuses). */
  onReplayed?: () => void;
}

const toDeliveryView = (attempt: DeliveryAttempt): DeliveryView => ({
  destination: attempt.destination,
  attempt: attempt.attempt,
  replay: attempt.replay,
  succeeded: attempt.succeeded,
  statusCode: attempt.statusCode,
  error: attempt.error,
  durationMs: attempt.durationMs,
  at: attempt.at.toISOString(),
});

/** Replayed events whose jobs are added a round: one Redis pipeline for their liveness, then their adds at once. */
const ENQUEUE_CHUNK = 500;

/**
 * Events a status-wide replay moves back to PENDING per statement (each its own transaction). All of a large backlog
 * in one statement ran past the pool's statement_timeout (15 s: about 700,000 events) and replayed nothing, every
 * time; 5,000 take about 0.1 s, and hold their row locks no longer than that.
 */
export const REPLAY_BATCH = 5000;

/** A timestamp as PostgreSQL has it, to the microsecond (a JS Date keeps milliseconds), for keysets and markers. */
const MICROSECONDS = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** An event a replay moved back to PENDING: what its new job needs. */
interface ReplayedRow {
  id: string;
  traceparent: string | null;
  /** Its replay round, counting this replay. */
  replays: number;
}

/**
 * One batch of a status-wide replay, committed: its events are PENDING with `updated_at` = `at` (the transaction's
 * now()), which is how their jobs' rows are read back, a batch at a time, instead of every row kept in memory.
 */
interface ReplayedBatch {
  at: string;
  events: number;
}

/** What adding replayed events' jobs came to, for the one line that reports it. */
interface EnqueueOutcome {
  events: number;
  notEnqueued: number;
  /** Whether `notEnqueued` is exact: every refusal said which of its round's adds went through (a RequeueError). */
  notEnqueuedExactly: boolean;
  leftAtShutdown: number;
  lastError?: unknown;
  eventId?: string;
}

/** What operators do with events: list, inspect, replay. */
export class EventAdminService {
  /** Status-wide replays whose jobs are still being added, after their answer. */
  private readonly background = new Set<Promise<void>>();
  private closing = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: EventQueue,
    private readonly logger: Logger,
    private readonly options: EventAdminOptions = {},
  ) {}

  /**
   * One page of events, newest first, keyset-paged on (received_at, id): each page reads a page of index entries
   * whatever the table holds. Only the list's columns are read (never payloads or raw bodies).
   */
  async list(filter: EventFilter & { limit: number; cursor?: string }): Promise<EventPageView> {
    const { conditions, values } = filterConditions(filter);
    if (filter.cursor) {
      const cursor = decodeCursor(filter.cursor);
      values.push(cursor.receivedAt, cursor.id);
      conditions.push(`(e.received_at, e.id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
    }
    values.push(filter.limit + 1);
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT ${EVENT_COLUMNS},
              -- The cursor needs received_at to the microsecond; a JS Date only keeps milliseconds.
              to_char(e.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_received_at
         FROM webhook_events e
        ${conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''}
        ORDER BY e.received_at DESC, e.id DESC
        LIMIT $${values.length}`,
      values,
    );
    const page = rows.slice(0, filter.limit);
    const last = page.at(-1);
    return {
      items: page.map(rowToView),
      nextCursor: rows.length > filter.limit && last ? encodeCursor({ receivedAt: last.cursor_received_at, id: last.id }) : null,
    };
  }

  /**
   * How many events match the filter in each status (the filter's own status is ignored). Each count stops at
   * `cap`: counting millions of completed events exactly would read millions of index entries on every refresh.
   * @returns the counts, and in `more` the statuses that have more than their count says.
   *
   * One branch per status, with the status a literal: only then can the planner prove `status <> 'COMPLETED'` and
   * read the partial status indexes up to the cap. Compared to a value it only knows at run time (an unnest()'s, as
   * before), it seq-scanned the whole table once per status whenever the filter matched many rows, even for statuses
   * with no events. The statuses are this module's constants, never input.
   *
   * COMPLETED is nearly every row the filter matches, and no partial index holds it: its branch walks the filter's
   * own index (provider's, else event type's, else received_at's) in that index's order, so it reads about `cap`
   * entries. With the column compared by `=`, PostgreSQL drops it from the ORDER BY (it is constant) and may walk the
   * received_at index instead, filtering, say, four rows of five out for a type that is a fifth of the traffic; a
   * `BETWEEN $n AND $n` selects the same rows and keeps the column in the order, which only the filter's index gives.
   */
  async counts(filter: Omit<EventFilter, 'status'>, cap = STATUS_COUNT_CAP): Promise<StatusCountsView> {
    const walked = filter.provider !== undefined ? 'provider' : filter.eventType !== undefined ? 'eventType' : undefined;
    const { conditions, values } = filterConditions({ ...filter, status: undefined, ...(walked ? { [walked]: undefined } : {}) }, 2);
    const and = (extra: string[]) => [...conditions, ...extra].map((condition) => `AND ${condition}`).join(' ');
    let others = and([]);
    let completed = `${others} ORDER BY e.received_at DESC, e.id DESC`;
    if (walked) {
      const column = walked === 'provider' ? 'e.provider' : 'e.event_type';
      values.push(filter[walked]);
      const parameter = `$${values.length + 1}`;
      others = and([`${column} = ${parameter}`]);
      completed = `${and([`${column} BETWEEN ${parameter} AND ${parameter}`])} ORDER BY ${column}, e.received_at DESC, e.id DESC`;
    }
    const rows: { status: EventStatus; n: string }[] = await this.dataSource.query(
      EVENT_STATUSES.map(
        (status) => `SELECT '${status}' AS status, (SELECT count(*) FROM (SELECT 1 FROM webhook_events e
                  WHERE e.status = '${status}' ${status === 'COMPLETED' ? completed : others} LIMIT $1) AS capped) AS n`,
      ).join('\n UNION ALL '),
      [cap + 1, ...values],
    );
    const counts = Object.fromEntries(EVENT_STATUSES.map((status) => [status, 0])) as Record<EventStatus, number>;
    const more: EventStatus[] = [];
    for (const row of rows) {
      const n = Number(row.n);
      counts[row.status] = Math.min(n, cap);
      if (n > cap) more.push(row.status);
    }
    return { counts, more };
  }

  /**
   * Providers and event types that have events (up to 200 of each), read by skipping through their indexes one
   * distinct value at a time: as cheap with millions of rows as with ten.
   */
  async facets(): Promise<FacetsView> {
    const distinct = async (column: 'provider' | 'event_type') =>
      (
        (await this.dataSource.query(
          `WITH RECURSIVE v AS (
             (SELECT ${column} AS value FROM webhook_events ORDER BY ${column} LIMIT 1)
             UNION ALL
             SELECT (SELECT ${column} FROM webhook_events WHERE ${column} > v.value ORDER BY ${column} LIMIT 1) FROM v WHERE v.value IS NOT NULL
           )
           SELECT value FROM v WHERE value IS NOT NULL LIMIT 200`,
        )) as { value: string }[]
      ).map((row) => row.value);
    const [providers, eventTypes] = await Promise.all([distinct('provider'), distinct('event_type')]);
    return { providers, eventTypes };
  }

  async get(id: string): Promise<EventDetailView | undefined> {
    const event = await this.dataSource.getRepository(WebhookEventSchema).findOne({ where: { id } });
    if (!event) return undefined;
    const [deliveries, delivered] = await Promise.all([
      this.dataSource.getRepository(DeliveryAttemptSchema).find({ where: { eventId: id }, order: { at: 'ASC', id: 'ASC' } }),
      this.deliveredTo(id),
    ]);
    const { traceUrlTemplate } = this.options;
    return {
      ...toView(event),
      payload: event.payload,
      headers: event.headers,
      contentType: event.contentType,
      body: bodyView(event.rawBody),
      routing: describeRouting(this.options.routes, event.provider, event.eventType),
      traceUrl: traceUrlTemplate && event.traceId ? traceUrlTemplate.replaceAll('{traceId}', encodeURIComponent(event.traceId)) : null,
      deliveries: deliveries.map(toDeliveryView),
      delivered,
    };
  }

  /**
   * The destinations that have the event, as the worker counts them when it claims the event (processing-store.ts,
   * CLAIM's `delivered`): a successful attempt since the last replay of the event as COMPLETED (which sends it to
   * every destination again), in any round since. A dead letter's replay goes only to the others, so a destination
   * that took the event in an earlier round still has it. Compared in PostgreSQL, to the microsecond, as the claim does.
   */
  private async deliveredTo(id: string): Promise<string[]> {
    const rows: { destination: string }[] = await this.dataSource.query(
      `SELECT DISTINCT d.destination
         FROM webhook_events e
         JOIN delivery_attempts d ON d.event_id = e.id AND d.succeeded AND d.at >= coalesce(e.replayed_at, '-infinity'::timestamptz)
        WHERE e.id = $1
        ORDER BY d.destination`,
      [id],
    );
    return rows.map((row) => row.destination);
  }

  /**
   * Moves a DEAD_LETTER or COMPLETED event back to PENDING and enqueues it. Replaying a COMPLETED event
   * delivers it to every destination again; a dead letter goes only to those that have not taken it yet.
   *
   * `round`: replay only while the event is still in that replay round (its `replays`, as the caller last saw it).
   * A replay request sent again (a client's retry after a lost answer, a second operator who saw the same round) then
   * finds the event in a later round and replays nothing, where without it an event whose replay had completed in the
   * meantime was replayed once more: to every destination, those that had just taken it included.
   * @returns 'replayed', 'not_found', 'replayed_since' (no longer in `round`) or 'not_replayable' (any other status:
   * it is still being processed).
   */
  async replay(id: string, round?: number): Promise<'replayed' | 'not_found' | 'not_replayable' | 'replayed_since'> {
    const rows = round === undefined ? await this.resetToPending('id = $1', [id]) : await this.resetToPending('id = $1 AND replays = $2', [id, round]);
    if (rows.length === 0) {
      const event = await this.dataSource.getRepository(WebhookEventSchema).findOne({ where: { id }, select: { id: true, replays: true } });
      if (!event) return 'not_found';
      return round !== undefined && event.replays !== round ? 'replayed_since' : 'not_replayable';
    }
    await this.enqueue(rows);
    return 'replayed';
  }

  /**
   * Replays every event in `status` (optionally of one provider) that was in it when the replay started; returns how
   * many, once PostgreSQL has committed them all as PENDING. They move {@link REPLAY_BATCH} a statement, walking
   * (status, updated_at, id) from the oldest: one statement for a large backlog ran past the statement timeout.
   *
   * Their jobs are added in the background, batch by batch as each commits (read back from PostgreSQL, not kept in
   * memory): a status-wide replay may take in a million events, and adding their jobs (about 10,000 a second: 50,000 in
   * about 5 s, README) would keep the request open past a proxy's timeout. Should this process stop first, the events are PENDING in
   * PostgreSQL, and the reconciler enqueues them.
   *
   * Should a batch fail (PostgreSQL unavailable, say), the error is the answer; the batches before it stay replayed
   * and their jobs are added. A retry replays the rest: the replayed events are PENDING and no longer match.
   */
  async replayAll(status: EventStatus, provider?: string): Promise<number> {
    const [{ started }] = (await this.dataSource.query(`SELECT ${MICROSECONDS('statement_timestamp()')} AS started`)) as [{ started: string }];
    const jobs = this.backgroundJobs();
    let replayed = 0;
    try {
      let cursor: { at: string; id: string } | undefined;
      for (;;) {
        const next = await this.nextBatch(status, provider, started, cursor);
        if (next.ids.length === 0) break;
        const { batch, rows } = await this.resetBatch(status, started, next.ids);
        replayed += batch.events;
        jobs.add(batch, rows);
        if (next.ids.length < REPLAY_BATCH) break;
        cursor = next.last;
      }
    } catch (error) {
      if (replayed > 0) this.logger.warn('replay: stopped by an error; the events replayed so far stay replayed', { status, provider, replayed, error });
      throw error;
    } finally {
      jobs.end();
    }
    return replayed;
  }

  /**
   * Adds a status-wide replay's jobs in the background, batch after batch, once all have committed. The first batch's
   * rows are kept; of the others only a marker is, and their rows are read back from PostgreSQL when their turn
   * comes: a replay of a million events must not hold a million rows while Redis takes 2,500 jobs a second.
   */
  private backgroundJobs(): { add(batch: ReplayedBatch, rows: ReplayedRow[]): void; end(): void } {
    const startedMs = Date.now();
    const outcome: EnqueueOutcome = { events: 0, notEnqueued: 0, notEnqueuedExactly: true, leftAtShutdown: 0 };
    const waiting: { batch: ReplayedBatch; rows?: ReplayedRow[] }[] = [];
    const run = async () => {
      for (let next = waiting.shift(); next; next = waiting.shift()) {
        if (this.closing) {
          outcome.leftAtShutdown += next.batch.events;
          continue;
        }
        try {
          await this.addJobs(next.rows ?? (await this.rowsOf(next.batch)), outcome, true);
        } catch (error) {
          // Its rows could not be read back: they are PENDING, the reconciler enqueues them.
          outcome.notEnqueued += next.batch.events;
          outcome.lastError = error;
        }
      }
      this.report(outcome, startedMs);
    };
    const start = () => {
      // Outside the request's trace: its spans would be a few per event, and the request has long been answered.
      const work = otelContext
        .with(ROOT_CONTEXT, run)
        .catch((error: unknown) => {
          this.logger.error('replay: adding jobs failed; the reconciler will enqueue the events', { events: outcome.events, error });
        })
        .finally(() => this.background.delete(work));
      this.background.add(work);
      return work;
    };
    return {
      add: (batch, rows) => {
        if (batch.events === 0) return;
        outcome.events += batch.events;
        waiting.push({ batch, rows: waiting.length === 0 ? rows : undefined });
      },
      // Started once every batch has committed: adding jobs alongside took the CPU and the connections the batches
      // need (a million events: the answer came after 160 s instead of 80).
      end: () => {
        if (waiting.length > 0) start();
      },
    };
  }

  /**
   * The next {@link REPLAY_BATCH} events of the replay, oldest first from `after`, read without locks: the batch's
   * own statement locks them and checks them again. Only events in the status since before the replay started
   * (`updated_at <= started`): one the replay sent back that fails again, or completes again, is not replayed twice.
   */
  private async nextBatch(
    status: EventStatus,
    provider: string | undefined,
    started: string,
    after: { at: string; id: string } | undefined,
  ): Promise<{ ids: string[]; last: { at: string; id: string } | undefined }> {
    const values: unknown[] = [status, started, REPLAY_BATCH];
    const conditions = ['e.status = $1', 'e.updated_at <= $2::timestamptz'];
    if (provider !== undefined) {
      values.push(provider);
      conditions.push(`e.provider = $${values.length}`);
    }
    if (after) {
      values.push(after.at, after.id);
      conditions.push(`(e.updated_at, e.id) > ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
    }
    const rows: { id: string; at: string }[] = await this.dataSource.query(
      `SELECT e.id, ${MICROSECONDS('e.updated_at')} AS at FROM webhook_events e
        WHERE ${conditions.join(' AND ')}
        ORDER BY e.updated_at, e.id LIMIT $3`,
      values,
    );
    const last = rows.at(-1);
    return { ids: rows.map((row) => row.id), last: last && { at: last.at, id: last.id } };
  }

  /**
   * One batch of a status-wide replay, in a transaction of its own. Events that left the status since they were read
   * (another replay took them: two identical replays at once take each event once) are left alone, as are those that
   * came back to it after the replay started.
   */
  private async resetBatch(status: EventStatus, started: string, ids: string[]): Promise<{ batch: ReplayedBatch; rows: ReplayedRow[] }> {
    const rows: (ReplayedRow & { at: string })[] = await this.dataSource.query(
      this.resetSql('id = ANY($1::uuid[]) AND status = $2 AND updated_at <= $3::timestamptz', `SELECT id, traceparent, replays, ${MICROSECONDS('now()')} AS at FROM replayed`),
      [ids, status, started],
    );
    if (rows.length > 0) this.options.onReplayed?.();
    return { batch: { at: rows[0]?.at ?? '', events: rows.length }, rows: rows.map(({ id, traceparent, replays }) => ({ id, traceparent, replays })) };
  }

  /** A committed batch's events that are still PENDING in it (those a worker claimed since need no job). */
  private async rowsOf(batch: ReplayedBatch): Promise<ReplayedRow[]> {
    return this.dataSource.query(
      `SELECT id, traceparent, replays FROM webhook_events WHERE status = 'PENDING' AND updated_at = $1::timestamptz ORDER BY id`,
      [batch.at],
    );
  }

  /** Resolves once the jobs of every status-wide replay so far are added (or left to the reconciler). */
  async settled(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /**
   * Shutdown: status-wide replays add no more jobs after the round in flight (their events stay PENDING, and the
   * reconciler enqueues them), so a large one does not hold the process past its drain.
   */
  async close(): Promise<void> {
    this.closing = true;
    await this.settled();
  }

  /**
   * Replays the listed events that are DEAD_LETTER or COMPLETED (an operator picked each of them); the others
   * (unknown, or still in progress) are left alone and reported in `skipped`. With `rounds` (each id's replay round
   * as the caller saw it, see {@link replay}), an event replayed since is skipped too: the same request sent again
   * replays nothing twice.
   */
  async replayIds(ids: string[], rounds?: Record<string, number>): Promise<{ replayed: number; replayedIds: string[]; skipped: string[] }> {
    const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
    const expected = rounds && Object.fromEntries(Object.entries(rounds).map(([id, round]) => [id.toLowerCase(), round]));
    // The round compared to a jsonb lookup by the row's own id: a plain expression of the row, so when a concurrent
    // replay changed the row first, PostgreSQL checks it again on the new version under the lock (FOR UPDATE).
    const rows = expected
      ? await this.resetToPending(`id = ANY($1::uuid[]) AND replays = ($2::jsonb ->> id::text)::int`, [unique, JSON.stringify(expected)])
      : await this.resetToPending('id = ANY($1::uuid[])', [unique]);
    await this.enqueue(rows);
    const replayedIds = new Set(rows.map((row) => row.id));
    return { replayed: rows.length, replayedIds: [...replayedIds], skipped: unique.filter((id) => !replayedIds.has(id)) };
  }

  /**
   * Moves the replayable events matching `where` back to PENDING, in their next replay round. The same statement
   * records, for the admin overview of every process, from when the counts of finished events per minute changed:
   * the earliest time one of these events had finished (read under the row lock, before the update), see
   * overview-invalidations.ts. Records older than the overview's window (24 h, and an hour's margin) are deleted.
   */
  private async resetToPending(where: string, values: unknown[]): Promise<ReplayedRow[]> {
    const rows: ReplayedRow[] = await this.dataSource.query(this.resetSql(where, 'SELECT id, traceparent, replays FROM replayed'), values);
    if (rows.length > 0) this.options.onReplayed?.();
    return rows;
  }

  /** {@link resetToPending}'s statement, answering with `select` over its `replayed` rows. */
  private resetSql(where: string, select: string): string {
    const statuses = REPLAYABLE_STATUSES.map((s) => `'${s}'`).join(', ');
    // Locked in id order: two replays of the same events (two operators, a retried request) otherwise lock them in
    // the order their plans read them, which differ (an index's, the heap's), and deadlock.
    return `WITH finished AS (
         SELECT id, updated_at FROM webhook_events WHERE ${where} AND status IN (${statuses}) ORDER BY id FOR UPDATE
       ), replayed AS (
         UPDATE webhook_events e
            SET status = 'PENDING', attempts = 0, replays = e.replays + 1, last_error = NULL, updated_at = now(),
                replayed_at = CASE WHEN e.status = 'COMPLETED' THEN now() ELSE e.replayed_at END
           FROM finished f
          WHERE e.id = f.id
      RETURNING e.id, e.traceparent, e.replays, f.updated_at AS finished_at
       ), recorded AS (
         INSERT INTO overview_invalidations (stale_from) SELECT min(finished_at) FROM replayed HAVING count(*) > 0
       ), expired AS (
         DELETE FROM overview_invalidations WHERE at < now() - interval '25 hours'
       )
       ${select}`;
  }

  /**
   * Enqueues replayed events, each as a job of its new replay round (a job of the round before may still be active:
   * the worker wrote the event's end and BullMQ has not finished the job yet), {@link ENQUEUE_CHUNK} a round. Whatever
   * Redis does not take stays PENDING and the reconciler enqueues it: one line says how many.
   */
  private async enqueue(rows: ReplayedRow[]): Promise<void> {
    const outcome: EnqueueOutcome = { events: rows.length, notEnqueued: 0, notEnqueuedExactly: true, leftAtShutdown: 0, ...(rows.length === 1 ? { eventId: rows[0]!.id } : {}) };
    await this.addJobs(rows, outcome, false);
    this.report(outcome, undefined);
  }

  /** Adds `rows`' jobs round by round into `outcome`; in the background, none after {@link close} (left to the reconciler). */
  private async addJobs(rows: ReplayedRow[], outcome: EnqueueOutcome, background: boolean): Promise<void> {
    for (let index = 0; index < rows.length; index += ENQUEUE_CHUNK) {
      if (background && this.closing) {
        outcome.leftAtShutdown += rows.length - index;
        return;
      }
      const chunk = rows.slice(index, index + ENQUEUE_CHUNK);
      try {
        await this.queue.requeueMany(chunk.map((row) => ({ eventId: row.id, replays: row.replays, traceparent: row.traceparent ?? undefined })));
      } catch (error) {
        // Redis refused some of the round's adds: requeueMany says how many (the others were added). Any other failure
        // (the liveness read) may have added none: the whole round is counted, and the reconciler's requeue skips
        // whatever did go through.
        outcome.notEnqueued += error instanceof RequeueError ? error.refused : chunk.length;
        outcome.notEnqueuedExactly &&= error instanceof RequeueError;
        outcome.lastError = error;
      }
    }
  }

  /** The one line about a replay's jobs: a warning when some are left to the reconciler; for a background one, its time. */
  private report(outcome: EnqueueOutcome, startedMs: number | undefined): void {
    const { events, notEnqueued, leftAtShutdown, lastError, eventId } = outcome;
    if (notEnqueued > 0 || leftAtShutdown > 0) {
      this.logger.warn('replay: events not enqueued; the reconciler will enqueue them', {
        events,
        notEnqueued: notEnqueued > 0 && !outcome.notEnqueuedExactly ? `up to ${notEnqueued}` : notEnqueued,
        leftAtShutdown,
        error: lastError,
        ...(eventId ? { eventId } : {}),
      });
    } else if (startedMs !== undefined && events > 0) {
      this.logger.info('replay: jobs added', { events, durationMs: Date.now() - startedMs });
    }
  }
}
