import type { Pool } from 'pg';
import { ItemFailure, MicroBatcher } from '../../shared/batching/micro-batcher.js';
import { withRowFallback } from '../../shared/batching/row-fallback.js';
import { isDatabaseUnavailable } from '../../shared/database/database-errors.js';
import type { EventStatus } from '../../shared/database/event-status.js';
import type { ReplayKey } from '../verification/replay-key.js';
import { WebhookVerificationError } from '../verification/verification-errors.js';
// A type only: the budget's default reads this file's defaults.
import type { StoreQueueBudget } from './store-queue-budget.js';
import { StoreQueueFullError } from './store-queue-full-error.js';

/** A verified webhook, ready to be stored. */
export interface NewEvent {
  provider: string;
  externalId: string;
  eventType: string;
  payload: unknown;
  rawBody: Buffer;
  contentType: string;
  headers: Record<string, string>;
  correlationId: string | null;
  traceId: string | null;
  traceparent: string | null;
  /** What the signature covers when it does not cover externalId (see {@link ReplayKey}); null otherwise. */
  replayKey: ReplayKey | null;
}

/** What storing an event did: a new row, or the row that already held this (provider, externalId). */
export interface StoredEvent {
  id: string;
  status: EventStatus;
  duplicate: boolean;
  /**
   * For a duplicate: true when a stored event (or a tombstone) holds this event's replay key, so that any webhook
   * with that key is a duplicate too, whatever its id (the duplicate budget remembers re-sends by it: see
   * DuplicateBudget). Not so when the event matched by its id only (a body under the id of a stored event).
   */
  replayKeyHeld?: boolean;
  /** For a duplicate matched by its replay key only: its own externalId is held by no stored event. */
  idNotHeld?: true;
}

export interface EventWriterOptions {
  pool: Pool;
  /** Largest multi-row INSERT. */
  maxBatchSize?: number;
  /** INSERTs in flight at once (each holds one pooled connection). */
  maxConcurrentFlushes?: number;
  /**
   * The bound on webhooks waiting to be stored (see {@link StoreQueueBudget}): an insert it has no room for is refused
   * at once with {@link StoreQueueFullError}. None: unbounded (tests, benchmarks).
   */
  queueBudget?: StoreQueueBudget;
}

/** Largest multi-row INSERT by default. */
export const DEFAULT_MAX_BATCH_SIZE = 200;
/** INSERTs in flight at once by default. */
export const DEFAULT_MAX_CONCURRENT_FLUSHES = 4;

// One statement for any batch size: arrays unnest into rows, so it is prepared once per connection.
// The raw bodies travel as ONE binary bytea parameter (their concatenation; each row takes its slice), not as a
// text array of hex strings; and the jsonb payload is PostgreSQL's own parse of that slice whenever the body is
// exactly the JSON the verifier parsed (see payloadFromRawBody), so no payload is re-serialised in JavaScript.
// $6 holds a payload serialised by JavaScript for the rows where that is not so (null elsewhere).
// ON CONFLICT without a target covers both guards: (provider, external_id) and (provider, replay_key).
//
// With `guardReplayKeys`, for a batch with replay keys (GitHub, `hmac`, PayPal), the NOT EXISTS keep out an event
// whose replay key a later delivery of another event used (a PayPal retry's transmission: see the EventReplayKeys
// migration), or belongs to an event retention deleted, through its tombstone (see the EventTombstones migration)
// or, while retention deletes it, the row itself. Retention deletes an event and writes its tombstone in one
// statement, so every snapshot sees one of the two; this statement's snapshot may predate that deletion, though, and
// ON CONFLICT would then wait for it and find the key free: the NOT EXISTS on webhook_events, under that same snapshot,
// still sees the row. A row without a replay key costs no probe (a NULL key matches nothing, unread); a batch without
// any takes the statement without them, which has no joins to start (Stripe, Standard Webhooks: their signed
// timestamps bound a replay). `(SELECT $13)` hides the batch's size from the planner: seeing it, PostgreSQL finds a
// custom plan for a small batch cheaper than the generic one and plans every statement anew (0.2 ms of planning per
// one-row batch, more than its execution); not seeing it, it settles on the generic plan, the same nested loop of
// index probes.
const insertEvents = (guardReplayKeys: boolean) => ({
  name: guardReplayKeys ? 'insert-webhook-events-guarding-replay-keys-v2' : 'insert-webhook-events-v3',
  text: `INSERT INTO webhook_events
           (provider, external_id, event_type, payload, raw_body, content_type, headers, correlation_id, trace_id, traceparent,
            replay_key)
         SELECT r.provider, r.external_id, r.event_type,
                coalesce(r.payload, convert_from(b.body, 'UTF8'))::jsonb,
                b.body, r.content_type, r.headers, r.correlation_id, r.trace_id, r.traceparent, r.replay_key
           FROM unnest($1::text[], $2::text[], $3::text[], $5::int[], $6::text[], $7::int[], $8::text[], $9::jsonb[],
                       $10::text[], $11::text[], $12::text[], ${guardReplayKeys ? '(SELECT $13::text[])' : '$13::text[]'})
                  AS r(provider, external_id, event_type, body_offset, payload, body_length, content_type, headers,
                       correlation_id, trace_id, traceparent, replay_key)
           CROSS JOIN LATERAL (SELECT substring($4::bytea FROM r.body_offset FOR r.body_length) AS body) b
         ${
           guardReplayKeys
             ? `WHERE NOT EXISTS (SELECT FROM webhook_events e WHERE e.provider = r.provider AND e.replay_key = r.replay_key)
             AND NOT EXISTS (SELECT FROM webhook_event_replay_keys k WHERE k.provider = r.provider AND k.replay_key = r.replay_key)
             AND NOT EXISTS (SELECT FROM webhook_event_tombstones t WHERE t.provider = r.provider AND t.replay_key = r.replay_key)`
             : ''
         }
         ON CONFLICT DO NOTHING
         RETURNING id, provider, external_id`,
});
const INSERT_EVENTS = insertEvents(false);
const INSERT_EVENTS_GUARDING_REPLAY_KEYS = insertEvents(true);

const OPEN_BRACE = 0x7b;

/**
 * Whether PostgreSQL may parse the stored payload from the raw body itself: a JSON body (no BOM, no leading
 * whitespace) with no `\u` escape (those are where the verifier's parse may have replaced a NUL or a lone surrogate,
 * which jsonb rejects). Then `JSON.parse(body)` — the verifier's payload — and jsonb's parse of the same text are
 * the same document. Anything else (form-encoded GitHub deliveries, escapes, other media types) is serialised here.
 */
function payloadFromRawBody(event: NewEvent): boolean {
  return event.contentType === 'application/json' && event.rawBody[0] === OPEN_BRACE && event.rawBody.indexOf('\\u') === -1;
}

// The rows that kept a batch's missing events out: by (provider, external_id), else by (provider, replay_key), the
// latter an event's own, one of its later deliveries' (webhook_event_replay_keys) or, once retention deleted it, its
// tombstone's (answered as the COMPLETED event it was).
//
// In the same statement, so at no extra round trip, `bound` records the replay keys that must bind one event ($5–$7:
// PayPal transmission ids) of the events that are duplicates by id (a PayPal retry): the transmission is then used,
// and the insert keeps another body under it out. Not a key some event already holds (its own, the transmission
// re-sent; or another event's, a forgery carrying this event's id), nor a tombstoned one. The SELECT below runs in
// the statement's snapshot, so it does not see what `bound` writes: the retry is a plain duplicate. A retry that came
// in its original's batch is no missing event, but this statement runs for its transmission all the same (the one
// case of a second round trip for a batch whose events were all inserted).
const SELECT_EXISTING = {
  name: 'select-existing-webhook-events-v4',
  text: `WITH bound AS (
           INSERT INTO webhook_event_replay_keys (provider, replay_key, event_id)
           SELECT e.provider, k.replay_key, e.id
             FROM unnest($5::text[], $6::text[], $7::text[]) AS k(provider, external_id, replay_key)
             JOIN webhook_events e ON e.provider = k.provider AND e.external_id = k.external_id
            WHERE NOT EXISTS (SELECT FROM webhook_events o WHERE o.provider = k.provider AND o.replay_key = k.replay_key)
              AND NOT EXISTS (SELECT FROM webhook_event_tombstones t WHERE t.provider = k.provider AND t.replay_key = k.replay_key)
           ON CONFLICT DO NOTHING
         )
         SELECT e.id, e.provider, e.external_id, e.replay_key, e.status, false AS tombstone
           FROM webhook_events e
           JOIN unnest($1::text[], $2::text[]) AS k(provider, external_id)
             ON e.provider = k.provider AND e.external_id = k.external_id
         UNION
         SELECT e.id, e.provider, e.external_id, e.replay_key, e.status, false
           FROM webhook_events e
           JOIN unnest($3::text[], $4::text[]) AS k(provider, replay_key)
             ON e.provider = k.provider AND e.replay_key = k.replay_key
         UNION
         SELECT e.id, e.provider, e.external_id, r.replay_key, e.status, false
           FROM webhook_event_replay_keys r
           JOIN unnest($3::text[], $4::text[]) AS k(provider, replay_key)
             ON r.provider = k.provider AND r.replay_key = k.replay_key
           JOIN webhook_events e ON e.id = r.event_id
         UNION
         SELECT t.event_id, t.provider, NULL, t.replay_key, 'COMPLETED', true
           FROM webhook_event_tombstones t
           JOIN unnest($3::text[], $4::text[]) AS k(provider, replay_key)
             ON t.provider = k.provider AND t.replay_key = k.replay_key`,
};

interface ExistingRow {
  id: string;
  provider: string;
  /** Null for a tombstone (it keeps the replay key only). */
  external_id: string | null;
  replay_key: string | null;
  status: EventStatus;
  /** A deleted event's replay key (webhook_event_tombstones), not a stored event. */
  tombstone: boolean;
}

const keyOf = (provider: string, externalId: string) => `${provider}\u0000${externalId}`;
const compareKeys = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Stores verified events with group commit: concurrent requests' rows go into one multi-row
 * `INSERT … ON CONFLICT DO NOTHING RETURNING`, committed before any of them is answered. The unique
 * (provider, external_id) constraint is the idempotency guard, across requests, batches and processes:
 * exactly one caller per key sees `duplicate: false`. The unique (provider, replay_key) index guards what the
 * signature covers when it does not cover the id: the event that reuses a stored replay key is a duplicate of that
 * row, or is refused as a forgery (`WebhookVerificationError` REPLAYED_TRANSMISSION), as its {@link ReplayKey} says.
 * A key that may not be reused (a PayPal transmission) binds its event also when it arrives as a duplicate (PayPal's
 * retry, a new transmission id): it is recorded in webhook_event_replay_keys, so it carries that event only, ever.
 * The replay key outlives the row: retention leaves it in webhook_event_tombstones when it deletes the event, and an
 * event with a tombstoned replay key is a duplicate of the deleted event (or refused) just the same.
 */
export class EventWriter {
  private readonly batcher: MicroBatcher<NewEvent, StoredEvent>;

  constructor(private readonly options: EventWriterOptions) {
    this.batcher = new MicroBatcher<NewEvent, StoredEvent>({
      maxBatchSize: options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE,
      maxConcurrentFlushes: options.maxConcurrentFlushes ?? DEFAULT_MAX_CONCURRENT_FLUSHES,
      flush: (events) => this.flush(events),
    });
  }

  /**
   * Stores `event` once; resolves after the row is committed. Rejects when PostgreSQL fails, and with a
   * WebhookVerificationError when the event reuses another event's replay key that may not be reused; at once, with a
   * StoreQueueFullError, when the queue budget has no room for it (nothing is queued then).
   */
  insert(event: NewEvent): Promise<StoredEvent> {
    const budget = this.options.queueBudget;
    if (!budget) return this.batcher.submit(event);
    const charge = budget.chargeOf(event.rawBody.length);
    if (!budget.take(charge)) return Promise.reject(new StoreQueueFullError());
    // Given back when the write resolves, stored or failed: the webhook is answered then, and its body let go.
    const release = () => budget.release(charge);
    const stored = this.batcher.submit(event);
    stored.then(release, release);
    return stored;
  }

  /** Waits for inserts in flight (graceful shutdown). */
  drain(): Promise<void> {
    return this.batcher.drain();
  }

  private flush(events: NewEvent[]): Promise<(StoredEvent | ItemFailure)[]> {
    // One bad row must not fail its neighbours: they are retried one by one, so only the culprit's request fails.
    // Alone, each payload is serialised by JavaScript as before this statement parsed bodies itself, so a body that
    // jsonb cannot take verbatim (a number beyond its range, say) is stored as the parsed payload still.
    return withRowFallback(events, (batch) => this.insertBatch(batch), (event) => this.insertBatch([event], true));
  }

  /** @param serialisePayloads serialise every payload in JavaScript (the one-by-one retry after a failed batch). */
  private async insertBatch(events: NewEvent[], serialisePayloads = false): Promise<(StoredEvent | ItemFailure)[]> {
    // The same key twice in one batch: the first occurrence is inserted, the others are its duplicates.
    const firstByKey = new Map<string, NewEvent>();
    const unique: NewEvent[] = [];
    // Their transmissions bind the event all the same (PayPal's retry arriving with the original: see `bound`).
    const repeatedTransmissions: NewEvent[] = [];
    for (const event of events) {
      const key = keyOf(event.provider, event.externalId);
      if (!firstByKey.has(key)) {
        firstByKey.set(key, event);
        unique.push(event);
      } else if (event.replayKey?.onReuse === 'reject') {
        repeatedTransmissions.push(event);
      }
    }
    // In key order: two batches in flight that share keys (a provider's concurrent retries) then wait on each
    // other's rows in the same order, instead of deadlocking.
    if (unique.length > 1) unique.sort((a, b) => compareKeys(keyOf(a.provider, a.externalId), keyOf(b.provider, b.externalId)));
    const offsets: number[] = [];
    const lengths: number[] = [];
    let offset = 1; // substring() counts from 1
    for (const event of unique) {
      offsets.push(offset);
      lengths.push(event.rawBody.length);
      offset += event.rawBody.length;
    }
    const inserted = await this.options.pool.query<{ id: string; provider: string; external_id: string }>({
      ...(unique.some((e) => e.replayKey !== null) ? INSERT_EVENTS_GUARDING_REPLAY_KEYS : INSERT_EVENTS),
      values: [
        unique.map((e) => e.provider),
        unique.map((e) => e.externalId),
        unique.map((e) => e.eventType),
        unique.length === 1 ? unique[0]!.rawBody : Buffer.concat(unique.map((e) => e.rawBody), offset - 1),
        offsets,
        unique.map((e) => (!serialisePayloads && payloadFromRawBody(e) ? null : JSON.stringify(e.payload))),
        lengths,
        unique.map((e) => e.contentType),
        unique.map((e) => JSON.stringify(e.headers)),
        unique.map((e) => e.correlationId),
        unique.map((e) => e.traceId),
        unique.map((e) => e.traceparent),
        unique.map((e) => e.replayKey?.key ?? null),
      ],
    });
    const resultByKey = new Map<string, StoredEvent | ItemFailure>();
    for (const row of inserted.rows) {
      resultByKey.set(keyOf(row.provider, row.external_id), { id: row.id, status: 'PENDING', duplicate: false });
    }
    const missing = unique.filter((e) => !resultByKey.has(keyOf(e.provider, e.externalId)));
    // What the lookup below could not answer (its connection broke), with the error it fails with: the missing events'
    // keys (every copy of such a key in the batch), and the repeated transmissions it was to bind.
    const unanswered = new Map<NewEvent | string, unknown>();
    // The rows holding the replay keys looked up: the missing events', and the repeated transmissions' (held by another
    // event, a repeated transmission is a forgery under this event's id).
    const byReplayKey = new Map<string, ExistingRow>();
    if (missing.length > 0 || repeatedTransmissions.length > 0) {
      // Rows another request (or process, or this batch) committed first; ON CONFLICT waited for that commit, so
      // they are visible.
      const withReplayKey = missing.filter((e) => e.replayKey !== null);
      const bindingOneEvent = [...withReplayKey.filter((e) => e.replayKey!.onReuse === 'reject'), ...repeatedTransmissions];
      const lookedUp = [...withReplayKey, ...repeatedTransmissions];
      let existing;
      try {
        existing = await this.options.pool.query<ExistingRow>({
          ...SELECT_EXISTING,
          values: [
            missing.map((e) => e.provider),
            missing.map((e) => e.externalId),
            lookedUp.map((e) => e.provider),
            lookedUp.map((e) => e.replayKey!.key),
            bindingOneEvent.map((e) => e.provider),
            bindingOneEvent.map((e) => e.externalId),
            bindingOneEvent.map((e) => e.replayKey!.key),
          ],
        });
      } catch (error) {
        // The INSERT above has committed (its answer came after the Sync that ends its implicit transaction): the rows
        // it returned are stored, new, and answered so (202, enqueued at once). Failing them with the lookup answered
        // 503 for an event already stored, which then waited for the reconciler, and its sender's retry was a
        // duplicate. Only the events the lookup was for fail (503: the sender's retry finds them), and a transmission
        // it did not bind (PayPal's retry in its original's batch) fails with them rather than go unguarded.
        if (!isDatabaseUnavailable(error)) throw error;
        for (const event of missing) unanswered.set(keyOf(event.provider, event.externalId), error);
        for (const event of repeatedTransmissions) unanswered.set(event, error);
        existing = { rows: [] };
      }
      const byExternalId = new Map<string, ExistingRow>();
      // Tombstones first, so a stored event wins over a tombstone of the same key: a key is in at most one of the two
      // tables, but should it be in both, the event that exists is the one to answer with.
      const rows = existing.rows.sort((a, b) => Number(b.tombstone) - Number(a.tombstone));
      for (const row of rows) {
        if (row.external_id !== null) byExternalId.set(keyOf(row.provider, row.external_id), row);
        if (row.replay_key !== null) byReplayKey.set(keyOf(row.provider, row.replay_key), row);
      }
      for (const event of missing) {
        const key = keyOf(event.provider, event.externalId);
        if (unanswered.has(key)) continue;
        const sameId = byExternalId.get(key);
        const sameReplayKey = event.replayKey ? byReplayKey.get(keyOf(event.provider, event.replayKey.key)) : undefined;
        // A transmission that carried another event is refused even with this event's id: it is a forged body.
        if (sameReplayKey && event.replayKey!.onReuse === 'reject' && sameReplayKey.id !== sameId?.id) {
          resultByKey.set(key, new ItemFailure(new WebhookVerificationError('REPLAYED_TRANSMISSION')));
          continue;
        }
        // Otherwise the same id is an ordinary duplicate, whatever else differs (the same delivery re-sent).
        if (sameId) {
          resultByKey.set(key, { id: sameId.id, status: sameId.status, duplicate: true, ...(sameReplayKey !== undefined ? { replayKeyHeld: true } : {}) });
          continue;
        }
        if (sameReplayKey && event.replayKey!.onReuse === 'duplicate') {
          resultByKey.set(key, { id: sameReplayKey.id, status: sameReplayKey.status, duplicate: true, replayKeyHeld: true, idNotHeld: true });
        } else if (sameReplayKey) {
          resultByKey.set(key, new ItemFailure(new WebhookVerificationError('REPLAYED_TRANSMISSION')));
        }
      }
    }
    const seen = new Set<string>();
    // Later copies of a key whose first copy was refused for its own replay key, while they carry another one.
    const ownTurn: NewEvent[] = [];
    const results = events.map((event): StoredEvent | ItemFailure => {
      const key = keyOf(event.provider, event.externalId);
      if (unanswered.has(key)) return new ItemFailure(unanswered.get(key));
      if (unanswered.has(event)) return new ItemFailure(unanswered.get(event));
      const result = resultByKey.get(key);
      if (!result) throw new Error('event row vanished between conflict and lookup');
      const first = !seen.has(key);
      seen.add(key);
      if (first) return result;
      const sameBody = event.replayKey !== null && firstByKey.get(key)!.replayKey?.key === event.replayKey.key;
      if (result instanceof ItemFailure) {
        // The first copy reused a transmission another event used (a body forged to its CRC32, under this event's id).
        // A copy under a transmission of its own is no such forgery: PayPal's retry of the event, or its first delivery,
        // was refused with the forgery it shared a batch with (401, counted against PayPal's address). Decided below,
        // as if it had come after this batch.
        if (!sameBody && event.replayKey !== null && result.error instanceof WebhookVerificationError) ownTurn.push(event);
        return result;
      }
      if (!sameBody && event.replayKey?.onReuse === 'reject') {
        // Its own transmission carried another event (or a deleted one): a body forged under this event's id, refused as
        // alone; answered as a duplicate of the genuine copy, it was a 200, and no failed verification was counted.
        const holder = byReplayKey.get(keyOf(event.provider, event.replayKey.key));
        if (holder !== undefined && holder.id !== result.id) return new ItemFailure(new WebhookVerificationError('REPLAYED_TRANSMISSION'));
      }
      // A later copy of a key in the batch is a duplicate by its id. It may carry another body (another replay key) than
      // the first: a duplicate by its id only (no replayKeyHeld). The same body (the same delivery sent twice at once)
      // is held as the first's is: stored now, or matched by its replay key. Answered by id only, the duplicate
      // budget's 429 told the sender of a stored body that it was not stored.
      const replayKeyHeld = sameBody && (!result.duplicate || result.replayKeyHeld === true);
      return {
        id: result.id,
        status: result.status,
        duplicate: true,
        ...(replayKeyHeld ? { replayKeyHeld: true } : {}),
        ...(result.idNotHeld ? { idNotHeld: true as const } : {}),
      };
    });
    if (ownTurn.length === 0) return results;
    let again: (StoredEvent | ItemFailure)[];
    try {
      again = await this.flush(ownTurn);
    } catch (error) {
      // Only these copies fail (503: their senders retry); the rows this batch stored are answered as stored.
      again = ownTurn.map(() => new ItemFailure(error));
    }
    ownTurn.forEach((event, index) => (results[events.indexOf(event)] = again[index]!));
    return results;
  }
}
