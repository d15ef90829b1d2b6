/**
 * The admin API's answers, as JSON: one declaration for the services that build them and the console that reads
 * them (console/src/types.ts re-exports these). Types only, importing nothing with a runtime: the console's
 * type-check (console/tsconfig.json, browser libraries) follows this file.
 */
import type { EventStatus } from '../shared/database/event-status.js';

/** An event as the admin API shows it. */
export interface EventView {
  id: string;
  provider: string;
  externalId: string;
  eventType: string;
  status: EventStatus;
  attempts: number;
  /** How many times the event was replayed; each delivery's `replay` says which round it belongs to. */
  replays: number;
  lastError: string | null;
  correlationId: string | null;
  traceId: string | null;
  receivedAt: string;
  updatedAt: string;
}

/** GET /admin/events: one page, newest first; `nextCursor` null on the last. */
export interface EventPageView {
  items: EventView[];
  nextCursor: string | null;
}

/** GET /admin/events/counts. */
export interface StatusCountsView {
  counts: Record<EventStatus, number>;
  /** Statuses with more events than their count (counts stop at a cap). */
  more: EventStatus[];
}

/** GET /admin/events/facets. */
export interface FacetsView {
  providers: string[];
  eventTypes: string[];
}

export interface DeliveryView {
  destination: string;
  attempt: number;
  replay: number;
  succeeded: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  at: string;
}

/**
 * The body as received: UTF-8 text when it is valid UTF-8 (JSON, form bodies), else base64. Shown next to the
 * parsed payload, so a body that is not JSON (or not what its parsed form suggests) is seen byte for byte.
 */
export interface BodyView {
  encoding: 'utf8' | 'base64';
  data: string;
  bytes: number;
}

/** A destination as operators see it: never its secret, its headers, or credentials in its URL. */
export interface DestinationInfo {
  name: string;
  type: string;
  /** scheme://host[:port]/path, without user info or query. */
  target: string | null;
}

/** The routes an event's provider and type match, and the destinations they send it to. */
export interface RoutingView {
  routes: {
    /** Position in ROUTES_FILE's `routes` (0-based). */
    index: number;
    provider: string;
    events: string[] | null;
    to: string[];
    /** The route also has a filter over the body: whether it passed is what the deliveries show. */
    hasFilter: boolean;
    hasTransform: boolean;
  }[];
  destinations: DestinationInfo[];
}

/** GET /admin/events/{id}. */
export interface EventDetailView extends EventView {
  payload: unknown;
  headers: Record<string, string>;
  contentType: string;
  body: BodyView;
  routing: RoutingView;
  traceUrl: string | null;
  deliveries: DeliveryView[];
  /**
   * The destinations that have the event (sorted): a successful attempt since its last replay as COMPLETED, in any
   * round. The worker's own rule: these are not sent the event again by a dead letter's replay, and the console's
   * "delivered" tag shows exactly them.
   */
  delivered: string[];
}

/** Jobs by state, as the queue reports them. */
export interface QueueCountsView {
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  failed: number;
}

/** GET /admin/overview: per-minute series over the last `hours`, oldest first (element i: the minute `from + i min`). */
export interface OverviewView {
  from: string;
  to: string;
  stepSeconds: 60;
  received: number[];
  completed: number[];
  deadLettered: number[];
  queue: {
    /** The queue now (null: Redis did not answer). */
    current: QueueCountsView | null;
    /** Since when this process has sampled the queue; minutes before it are null in the series. */
    sampledSince: string;
    /** Jobs waiting (waiting + prioritized), being processed (active), waiting for a retry (delayed), per minute. */
    waiting: (number | null)[];
    active: (number | null)[];
    delayed: (number | null)[];
    /**
     * The deepest the queue was per minute: the largest waiting + prioritized + active + delayed of one sample. Not
     * the sum of the three series above, each its own largest: a job seen waiting, then retrying, counts in both.
     */
    depth: (number | null)[];
  };
}

/** A destination's protection state as the admin API shows it (`state` of GET /admin/destinations). */
export interface DestinationState {
  /**
   * Paused as PostgreSQL records it (the record, whatever Redis holds), or as the workers still read it in Redis (a
   * resume recorded but not copied there yet).
   */
  paused: boolean;
  pausedAt: string | null;
  /** The circuit breaker's state; null when the destination has none (or Redis could not be read: `unavailable`). */
  circuit: 'closed' | 'open' | 'half-open' | null;
  /** Consecutive failed attempts counted towards the threshold (while closed). */
  consecutiveFailures: number;
  /** When the circuit left closed (it stays set while the circuit flips open ⇄ half-open). */
  circuitOpenedAt: string | null;
  /** When an open circuit lets its next probe through. */
  nextProbeAt: string | null;
  /** Events waiting for this destination now (paused, circuit open, rate limited), and since when the oldest waits. */
  waiting: { events: number; oldestSince: string | null };
  rateLimit: { perSecond: number } | null;
  circuitBreaker: { failureThreshold: number; cooldownMs: number } | null;
  /** Redis could not be read: `paused` comes from PostgreSQL, the circuit is unknown. */
  unavailable?: true;
}

export interface DestinationRecent {
  attempts: number;
  succeeded: number;
  failed: number;
  /** succeeded / attempts, 0–1; null when nothing was attempted in the window. */
  successRate: number | null;
  avgDurationMs: number | null;
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
  /** The most recent failed attempt in the window. */
  lastFailure: { at: string; statusCode: number | null; error: string | null } | null;
  /** Oldest first, in buckets of `bucketMinutes`, covering the window. */
  buckets: { attempts: number; succeeded: number }[];
}

export interface DestinationView extends DestinationInfo {
  /** In ROUTES_FILE (false: attempts in the window name a destination the file no longer has). */
  configured: boolean;
  /**
   * Pause, circuit and waiting events, read fresh on every request (never from the cache the recent counts use);
   * null where the admin API has no access to destination state (a process built without it).
   */
  state: DestinationState | null;
  recent: DestinationRecent;
}

/** GET /admin/destinations. */
export interface DestinationsOverview {
  windowMinutes: number;
  bucketMinutes: number;
  from: string;
  items: DestinationView[];
  /**
   * Pauses still recorded for destinations no longer in ROUTES_FILE (absent when the API has no pause control). Each
   * applies again should its destination come back under the same name; `…/{name}/resume` clears it.
   */
  removedPaused?: RemovedPause[];
}

/** A pause recorded for a destination ROUTES_FILE no longer has. */
export interface RemovedPause {
  name: string;
  /** When it was paused (ISO 8601). */
  pausedAt: string;
}
