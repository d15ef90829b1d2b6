/** The admin API's answers, as the console reads them (see services/admin/). */

export const STATUSES = ['PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'DEAD_LETTER'] as const;
export type EventStatus = (typeof STATUSES)[number];

export interface EventItem {
  id: string;
  provider: string;
  externalId: string;
  eventType: string;
  status: EventStatus;
  attempts: number;
  replays: number;
  lastError: string | null;
  correlationId: string | null;
  traceId: string | null;
  receivedAt: string;
  updatedAt: string;
}

export interface EventPage {
  items: EventItem[];
  nextCursor: string | null;
}

export interface StatusCounts {
  counts: Record<EventStatus, number>;
  /** Statuses with more events than their count (counts stop at 10,000). */
  more: EventStatus[];
}

export interface Facets {
  providers: string[];
  eventTypes: string[];
}

export interface Delivery {
  destination: string;
  attempt: number;
  replay: number;
  succeeded: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  at: string;
}

export interface DestinationInfo {
  name: string;
  type: string;
  target: string | null;
}

export interface EventDetail extends EventItem {
  payload: unknown;
  headers: Record<string, string>;
  contentType: string;
  body: { encoding: 'utf8' | 'base64'; data: string; bytes: number };
  routing: {
    routes: { index: number; provider: string; events: string[] | null; to: string[]; hasFilter: boolean; hasTransform: boolean }[];
    destinations: DestinationInfo[];
  };
  traceUrl: string | null;
  deliveries: Delivery[];
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  failed: number;
}

export interface Overview {
  from: string;
  to: string;
  stepSeconds: number;
  received: number[];
  completed: number[];
  deadLettered: number[];
  queue: {
    current: QueueCounts | null;
    sampledSince: string;
    waiting: (number | null)[];
    active: (number | null)[];
    delayed: (number | null)[];
  };
}

/** Pause, circuit breaker, rate limit and waiting events of a destination (GET /admin/destinations `state`). */
export interface DestinationState {
  paused: boolean;
  pausedAt: string | null;
  /** Null: the destination has no circuit breaker (or its state could not be read: `unavailable`). */
  circuit: 'closed' | 'open' | 'half-open' | null;
  consecutiveFailures: number;
  circuitOpenedAt: string | null;
  nextProbeAt: string | null;
  /** Events waiting for the destination (paused, circuit open, rate limited): no attempt used. */
  waiting: { events: number; oldestSince: string | null };
  rateLimit: { perSecond: number } | null;
  circuitBreaker: { failureThreshold: number; cooldownMs: number } | null;
  unavailable?: true;
}

export interface DestinationItem extends DestinationInfo {
  configured: boolean;
  state: DestinationState | null;
  recent: {
    attempts: number;
    succeeded: number;
    failed: number;
    successRate: number | null;
    avgDurationMs: number | null;
    lastAttemptAt: string | null;
    lastSuccessAt: string | null;
    lastFailure: { at: string; statusCode: number | null; error: string | null } | null;
    buckets: { attempts: number; succeeded: number }[];
  };
}

export interface Destinations {
  windowMinutes: number;
  bucketMinutes: number;
  from: string;
  items: DestinationItem[];
}
