import client from 'prom-client';
import { HEALTH_CHECK_TIMEOUT_MS, runCheck, type HealthCheck } from '../health/health-router.js';
import { registry } from './metrics.js';

export const DEPENDENCY_UP_METRIC = 'webhook_dependency_up';

/** A result older than this is checked again when Prometheus scrapes (Kubernetes probes readiness every 5 s). */
export const DEPENDENCY_RESULT_FRESH_MS = 10_000;

/**
 * `webhook_dependency_up{dependency}`: 1 when this process's latest check of a dependency passed, 0 when it failed
 * or did not answer within the health checks' timeout. The checks are the health checks (`database`: PostgreSQL
 * answers and has this version's newest migration; `redis`: it takes a write, which a read-only replica or a Redis out of memory refuses): every readiness probe and `GET /health`
 * records its results here, and a result older than {@link DEPENDENCY_RESULT_FRESH_MS} (nothing probed: under
 * docker-compose, or a dependency readiness leaves out) is checked again when Prometheus scrapes.
 *
 * It says why a process is unready in a way readiness cannot: readiness is also 503 while the pod shuts down (the
 * preStop announcement, the drain after SIGTERM), which checks nothing and so leaves this gauge as it was. An
 * ingress that cannot reach PostgreSQL fails readiness and leaves the Service, so it receives (and counts) no
 * webhook any more; this gauge is what still tells that storage is down (WebhookStorageUnavailable).
 */
export class DependencyGauge {
  private readonly latest = new Map<string, { at: number; up: boolean }>();
  private refreshing?: Promise<void>;

  constructor(
    private readonly checks: Record<string, HealthCheck>,
    private readonly options: {
      freshMs?: number;
      timeoutMs?: number;
      /** Told each failed check's full error (the scrape-time checks log like the health router's). */
      onFailure?: (name: string, error: unknown) => void;
    } = {},
  ) {
    const self = this;
    // One gauge per process; a second service instance in the same process (tests) takes it over.
    registry.removeSingleMetric(DEPENDENCY_UP_METRIC);
    new client.Gauge({
      name: DEPENDENCY_UP_METRIC,
      help:
        'Whether the latest check of a dependency by this process passed (1) or failed (0): database (PostgreSQL answers and ' +
        'has this version\'s migrations), redis (it takes a write: 0 for a read-only replica or a Redis out of memory); the ' +
          'readiness checks, not the shutdown (a draining pod keeps its values)',
      labelNames: ['dependency'] as const,
      registers: [registry],
      async collect() {
        await self.refreshStale();
        this.reset();
        for (const [dependency, { up }] of self.latest) this.set({ dependency }, up ? 1 : 0);
      },
    });
  }

  /** Records a check's outcome (the health router's `onCheck`). */
  readonly record = (name: string, up: boolean): void => {
    if (name in this.checks) this.latest.set(name, { at: Date.now(), up });
  };

  private refreshStale(): Promise<void> {
    const freshMs = this.options.freshMs ?? DEPENDENCY_RESULT_FRESH_MS;
    const stale = Object.keys(this.checks).filter((name) => (Date.now() - (this.latest.get(name)?.at ?? 0)) >= freshMs);
    if (stale.length === 0) return Promise.resolve();
    // Concurrent scrapes share one round of checks; each is bounded by the health checks' timeout.
    this.refreshing ??= Promise.all(
      stale.map(async (name) => {
        const indicator = await runCheck(this.checks[name]!, this.options.timeoutMs ?? HEALTH_CHECK_TIMEOUT_MS, (error) => this.options.onFailure?.(name, error));
        this.record(name, indicator.status === 'up');
      }),
    )
      .then(() => undefined)
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }
}
