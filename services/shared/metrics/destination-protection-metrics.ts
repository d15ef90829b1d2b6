import client from 'prom-client';
import type { DestinationStateView } from '../destinations/destination-state.js';
import type { HeldSummary } from '../destinations/held-events.js';
import { registry } from './metrics.js';

/**
 * Why a delivery waited instead of being attempted (`reason` of `webhook_destination_deferred_total`):
 * `state_unavailable` when Redis, where the destinations' state lives, could not be read (the delivery waits then
 * too: a paused destination must be sent nothing).
 */
export const DEFERRAL_REASONS = ['paused', 'circuit_open', 'rate_limited', 'state_unavailable'] as const;
export type DeferralReason = (typeof DEFERRAL_REASONS)[number];

/** Circuit transitions (`to` of `webhook_destination_circuit_transitions_total`). */
export const CIRCUIT_TRANSITIONS = ['opened', 'reopened', 'closed'] as const;

export const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;

/**
 * Deliveries this process put off without attempting them; `rate_limited` are the rate-limit waits. Counted once per
 * delivery when it starts waiting (by the reason it started waiting for), not again each time its job looks again
 * while the destination is still paused, open or over its limit.
 */
export const destinationDeferrals = new client.Counter({
  name: 'webhook_destination_deferred_total',
  help:
    'Deliveries put off instead of attempted (no attempt used), counted once when each starts waiting (not at every recheck), ' +
    'by destination and reason (paused, circuit_open, rate_limited, state_unavailable = Redis unreadable)',
  labelNames: ['destination', 'reason'] as const,
  registers: [registry],
});

/** What this process's deliveries did to circuits: opened (threshold reached), reopened (a probe failed), closed. */
export const circuitTransitions = new client.Counter({
  name: 'webhook_destination_circuit_transitions_total',
  help: 'Circuit breaker transitions caused by this process, by destination and new state (opened, reopened = a probe failed, closed)',
  labelNames: ['destination', 'to'] as const,
  registers: [registry],
});

export const DESTINATION_STATE_METRICS = [
  'webhook_destination_paused',
  'webhook_destination_circuit_state',
  'webhook_destination_circuit_open_seconds',
  'webhook_destination_events_waiting',
  'webhook_destination_oldest_waiting_age_seconds',
  'webhook_destination_waiting_read_age_seconds',
] as const;

/**
 * How long a scrape whose read of the waiting events is slow serves the last values read instead (see
 * {@link DestinationStateGauges}): as long as WebhookDestinationHeldTooLong's `for`, so a PostgreSQL slow for moments
 * neither resolves it nor restarts its `for`; past that (a PostgreSQL slow for good) the gauges have no samples.
 */
export const WAITING_LAST_VALUES_MAX_AGE_MS = 10 * 60_000;

export interface DestinationStateSource {
  /** Every configured destination, by name. */
  names: string[];
  /** The destinations with a circuit breaker (the others export no circuit series). */
  withBreaker: ReadonlySet<string>;
  /** Shared state from Redis, with Redis's clock. */
  read(names: string[]): Promise<{ now: number; views: DestinationStateView[] }>;
  /** Waiting events per destination, from PostgreSQL. */
  held(): Promise<HeldSummary[]>;
  /** The destinations PostgreSQL records as paused (`destination_pauses`: the record Redis holds a copy of). */
  recordedPauses(): Promise<string[]>;
}

interface Snapshot {
  state?: { now: number; views: DestinationStateView[] };
  held?: HeldSummary[];
  /** When `held` was read, when these are the last values served for a slow read; absent when read for this scrape. */
  heldAt?: number;
  recordedPauses?: string[];
}

/**
 * The destinations' shared state as gauges, read from Redis and PostgreSQL when Prometheus scrapes (cached 1 s,
 * bounded by a 1 s timeout): every pod reports the same values, so aggregate them with `max`, never `sum`.
 * - `webhook_destination_paused{destination}` 1 while paused: while PostgreSQL records the pause (also after Redis
 *   lost its copy, which the workers copy back from the record before they deliver) or Redis's copy still holds one
 *   (a resume recorded but not copied yet still holds the deliveries); 0 only when both were read and neither does;
 * - `webhook_destination_circuit_state{destination,state}` 1 for the circuit's current state (breakers only);
 * - `webhook_destination_circuit_open_seconds{destination}` how long the circuit has not been closed (0 closed);
 * - `webhook_destination_events_waiting{destination}` events waiting for the destination (paused, circuit open,
 *   rate limited), and `webhook_destination_oldest_waiting_age_seconds{destination}` since when the oldest waits.
 * A source that cannot be read leaves its gauges without samples rather than with misleading zeros (a pause
 * PostgreSQL records is still 1 while Redis cannot be read). Except the waiting events when their read is only slow
 * (past the timeout, not failed): the scrape serves the last values read, up to {@link WAITING_LAST_VALUES_MAX_AGE_MS}
 * old, and `webhook_destination_waiting_read_age_seconds{destination}` says how old (0 when read for this scrape). Without them
 * the series went stale at each slow read, and WebhookDestinationHeldTooLong resolved and started its `for` again.
 * That read runs one at a time: a scrape finding it still running waits for it (up to the timeout) rather than
 * starting another, which piled up one more on a slow PostgreSQL at each scrape; its answer, however late, is kept.
 */
export class DestinationStateGauges {
  private cached?: { at: number; snapshot: Snapshot };
  private inFlight?: Promise<Snapshot>;
  /** The read of the waiting events still running, if one is. */
  private heldRead?: Promise<void>;
  /** The last waiting events read, and when. */
  private lastHeld?: { at: number; held: HeldSummary[] };

  constructor(
    private readonly source: DestinationStateSource,
    private readonly cacheMs = 1000,
    private readonly timeoutMs = 1000,
    /** The clock the cache, the last values' age and the waiting age are measured by (tests move it). */
    private readonly now: () => number = Date.now,
  ) {
    const self = this;
    for (const name of DESTINATION_STATE_METRICS) registry.removeSingleMetric(name);
    const gauge = (name: string, help: string, labelNames: string[], fill: (this: client.Gauge, snapshot: Snapshot) => void) =>
      new client.Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        async collect() {
          const snapshot = await self.read();
          this.reset();
          fill.call(this, snapshot);
        },
      });
    gauge('webhook_destination_paused', 'Whether a destination is paused (1) or not (0); the same from every pod: aggregate with max', ['destination'], function (snapshot) {
      // PostgreSQL is the record; Redis's copy is what workers act on. After Redis lost its data the copy is empty
      // until a worker writes it back from the record (a worker finding no copy does so before it delivers), so
      // reading the copy alone said 0 of a recorded pause. Paused if either says so; 0 only when both were read.
      const recorded = snapshot.recordedPauses ? new Set(snapshot.recordedPauses) : undefined;
      const copy = new Map((snapshot.state?.views ?? []).map((view) => [view.name, view.paused]));
      for (const name of self.source.names) {
        const copied = copy.get(name);
        if (recorded?.has(name) || copied === true) this.set({ destination: name }, 1);
        else if (recorded && copied !== undefined) this.set({ destination: name }, 0);
      }
    });
    gauge(
      'webhook_destination_circuit_state',
      'A destination circuit breaker: 1 for its current state (closed, open, half-open), 0 for the others; the same from every pod',
      ['destination', 'state'],
      function (snapshot) {
        for (const view of snapshot.state?.views ?? []) {
          if (!view.circuit || !self.source.withBreaker.has(view.name)) continue;
          for (const state of CIRCUIT_STATES) this.set({ destination: view.name, state }, view.circuit.state === state ? 1 : 0);
        }
      },
    );
    gauge(
      'webhook_destination_circuit_open_seconds',
      'Seconds since a destination circuit left closed (open or probing), 0 while closed; the same from every pod: aggregate with max',
      ['destination'],
      function (snapshot) {
        const now = snapshot.state?.now ?? 0;
        for (const view of snapshot.state?.views ?? []) {
          if (!view.circuit || !self.source.withBreaker.has(view.name)) continue;
          const openedAt = view.circuit.state === 'closed' ? null : view.circuit.openedAt;
          this.set({ destination: view.name }, openedAt === null ? 0 : Math.max(0, (now - openedAt) / 1000));
        }
      },
    );
    gauge(
      'webhook_destination_events_waiting',
      'Events waiting for a destination (paused, circuit open or rate limited: no attempt used); the same from every pod: aggregate with max',
      ['destination'],
      function (snapshot) {
        if (!snapshot.held) return;
        const byName = new Map(snapshot.held.map((held) => [held.destination, held.events]));
        for (const name of self.source.names) this.set({ destination: name }, byName.get(name) ?? 0);
      },
    );
    gauge(
      'webhook_destination_oldest_waiting_age_seconds',
      'Seconds the longest-waiting event has waited for a destination, 0 when none waits; the same from every pod',
      ['destination'],
      function (snapshot) {
        if (!snapshot.held) return;
        const byName = new Map(snapshot.held.map((held) => [held.destination, held.oldestSince.getTime()]));
        for (const name of self.source.names) {
          const since = byName.get(name);
          this.set({ destination: name }, since === undefined ? 0 : Math.max(0, (self.now() - since) / 1000));
        }
      },
    );
    gauge(
      'webhook_destination_waiting_read_age_seconds',
      'Seconds since a destination\'s waiting-events gauges were read from PostgreSQL: 0 when read for this scrape, more while a slow read runs and the last values are served',
      // Per destination, as the gauges it dates: an unlabelled gauge always has a sample (0), also when none was read.
      ['destination'],
      function (snapshot) {
        if (!snapshot.held) return;
        const age = snapshot.heldAt === undefined ? 0 : Math.max(0, (self.now() - snapshot.heldAt) / 1000);
        for (const name of self.source.names) this.set({ destination: name }, age);
      },
    );
  }

  private async read(): Promise<Snapshot> {
    if (this.cached && this.now() - this.cached.at < this.cacheMs) return this.cached.snapshot;
    const bounded = <T>(promise: Promise<T>) =>
      Promise.race([promise.catch(() => undefined), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), this.timeoutMs).unref())]);
    this.inFlight ??= Promise.all([bounded(this.source.read(this.source.names)), this.readHeld(bounded), bounded(this.source.recordedPauses())])
      .then(([state, held, recordedPauses]) => {
        const snapshot: Snapshot = { state, ...held, recordedPauses };
        this.cached = { at: this.now(), snapshot };
        return snapshot;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  /**
   * The waiting events: read now (one read at a time, kept whenever it answers); if it has not answered within the
   * timeout, the last ones read within WAITING_LAST_VALUES_MAX_AGE_MS; none when the read failed, or nothing recent.
   */
  private async readHeld(bounded: <T>(promise: Promise<T>) => Promise<T | undefined>): Promise<Pick<Snapshot, 'held' | 'heldAt'>> {
    let failed = false;
    this.heldRead ??= this.source
      .held()
      .then((held) => {
        this.lastHeld = { at: this.now(), held };
      })
      .catch(() => {
        failed = true;
      })
      .finally(() => {
        this.heldRead = undefined;
      });
    const started = this.now();
    const answered = (await bounded(this.heldRead.then(() => true))) === true;
    if (failed) return {};
    const last = this.lastHeld;
    // Answered: the values it read (or, for a read that another scrape started and that failed, none newer than it).
    if (answered) return last && last.at >= started ? { held: last.held } : {};
    return last && this.now() - last.at <= WAITING_LAST_VALUES_MAX_AGE_MS ? { held: last.held, heldAt: last.at } : {};
  }
}
