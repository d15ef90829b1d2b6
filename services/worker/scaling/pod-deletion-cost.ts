// Types only: the client is imported when a reporter is really used (in a cluster), since loading it costs every
// process tens of MB of memory.
import type { CoreV1Api, KubeConfig, RequestContext, ResponseContext } from '@kubernetes/client-node';

/** The annotation the ReplicaSet controller reads when it picks pods to remove on scale-in. */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

/** The subset of a (winston-style) logger the reporter uses. */
export interface PodDeletionCostLogger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
}

/** Options of {@link PodDeletionCostReporter}. */
export interface PodDeletionCostReporterOptions {
  /** This pod's name (Downward API `metadata.name`). Without it the reporter does nothing. */
  podName?: string;
  /** This pod's namespace (Downward API `metadata.namespace`). Without it the reporter does nothing. */
  namespace?: string;
  /** Where the API server is and how to authenticate; default `KubeConfig.loadFromCluster()` (the pod's service account). */
  kubeConfig?: KubeConfig;
  /** At most one PATCH per this many milliseconds; changes in between are coalesced (the latest wins). Default 10000. */
  minIntervalMs?: number;
  /** Base cost of a pod with at least one job in flight; the active job count is added to it. Default 1000. */
  busyCost?: number;
  /** Cost of a pod with no job in flight. Default 0 (the value Kubernetes assumes when the annotation is absent). */
  idleCost?: number;
  /**
   * How long one PATCH may take before it is aborted and counted as failed. Default 5000. Without a bound, an API
   * server that accepts the connection and never answers would hold the request (and every later update, which
   * waits for it) for undici's 300 s.
   */
  requestTimeoutMs?: number;
  /** Where failures and state changes are reported; default: nothing is logged. */
  logger?: PodDeletionCostLogger;
}

/** Environment variables {@link PodDeletionCostReporter.fromEnvironment} reads. */
export interface PodDeletionCostEnvironment {
  KUBERNETES_SERVICE_HOST?: string;
  POD_NAME?: string;
  POD_NAMESPACE?: string;
  POD_DELETION_COST_ENABLED?: string;
  [name: string]: string | undefined;
}

const silentLogger: PodDeletionCostLogger = { debug: () => {}, info: () => {}, warn: () => {} };

/** Kubernetes stores the cost as an int32. */
const MAX_COST = 2_147_483_647;
const MIN_COST = -2_147_483_648;
/** Longest wait between retries after failed PATCHes. */
const MAX_RETRY_DELAY_MS = 300_000;
/** setTimeout() fires at once for longer delays. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Keeps this worker pod's `controller.kubernetes.io/pod-deletion-cost` annotation in step with how busy it is,
 * so that a scale-in (KEDA / HPA lowering `replicas`) removes idle workers before busy ones.
 *
 * The cost is `idleCost` with no job in flight and `busyCost + activeJobs` otherwise: every busy pod costs more
 * than every idle pod, and among busy pods the least loaded goes first. Kubernetes treats the annotation as a
 * best-effort hint (it is not a guarantee, and it costs an API write), so the reporter is frugal:
 *
 * - {@link setActiveJobs} is synchronous and cheap; it only records the wanted cost and arms a timer.
 * - At most one PATCH per `minIntervalMs`; changes within the interval are coalesced and the latest value is
 *   sent once the interval has passed (a trailing update), so the annotation never stays stale.
 * - No PATCH when the cost equals the last one the API server accepted.
 * - The PATCH is a JSON merge patch (`application/merge-patch+json`) of `metadata.annotations` only.
 * - Each PATCH is aborted after `requestTimeoutMs` and then counts as a failure, so a hung API server delays the
 *   next value by at most that long instead of freezing the annotation.
 * - Failures are logged (the first of a streak at `warn`, later ones at `debug`) and retried with backoff; they
 *   never reach the caller, since a missing annotation only makes scale-in choose less well.
 *
 * The pod's service account needs `get` and `patch` on `pods` in its namespace (the Helm chart's worker Role).
 * Outside a cluster (see {@link PodDeletionCostReporter.fromEnvironment}) the reporter is a no-op.
 */
export class PodDeletionCostReporter {
  private readonly podName: string | undefined;
  private readonly namespace: string | undefined;
  private readonly minIntervalMs: number;
  private readonly busyCost: number;
  private readonly idleCost: number;
  private readonly requestTimeoutMs: number;
  private readonly logger: PodDeletionCostLogger;
  private api: Promise<CoreV1Api | undefined> | undefined;

  private desiredCost: number | undefined;
  private sentCost: number | undefined;
  private lastPatchAt = Number.NEGATIVE_INFINITY;
  private consecutiveFailures = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  /** Aborts the PATCH in flight (set while {@link inFlight} is). */
  private inFlightAbort: AbortController | undefined;
  private closed = false;

  /**
   * @param options - pod identity, API access and tuning; a reporter without `podName` and `namespace` is a no-op.
   */
  constructor(options: PodDeletionCostReporterOptions = {}) {
    this.podName = options.podName || undefined;
    this.namespace = options.namespace || undefined;
    this.minIntervalMs = Math.max(0, options.minIntervalMs ?? 10_000);
    this.busyCost = options.busyCost ?? 1000;
    this.idleCost = options.idleCost ?? 0;
    this.requestTimeoutMs = Math.min(MAX_TIMER_MS, Math.max(1, options.requestTimeoutMs ?? 5000));
    this.logger = options.logger ?? silentLogger;
    this.api = this.podName && this.namespace ? this.createApi(options.kubeConfig) : undefined;
  }

  /**
   * A reporter for the pod this process runs in: a working one when `KUBERNETES_SERVICE_HOST`, `POD_NAME` and
   * `POD_NAMESPACE` are set and `POD_DELETION_COST_ENABLED` is not false, otherwise a no-op one.
   *
   * @param env - the environment to read (default `process.env`).
   * @param options - everything but the pod identity, which comes from `env`.
   */
  static fromEnvironment(
    env: PodDeletionCostEnvironment = process.env,
    options: Omit<PodDeletionCostReporterOptions, 'podName' | 'namespace'> = {},
  ): PodDeletionCostReporter {
    const disabled = ['false', '0', 'no'].includes((env.POD_DELETION_COST_ENABLED ?? '').trim().toLowerCase());
    return PodDeletionCostReporter.fromConfig(
      { podName: env.POD_NAME, podNamespace: env.POD_NAMESPACE, podDeletionCostEnabled: !disabled },
      options,
      Boolean(env.KUBERNETES_SERVICE_HOST),
    );
  }

  /**
   * From validated settings (the service's `Config['kubernetes']`): a no-op reporter unless enabled, in a cluster
   * (`inCluster`, or a kubeConfig given) and told its pod's name and namespace.
   */
  static fromConfig(
    settings: { podName?: string; podNamespace?: string; podDeletionCostEnabled: boolean },
    options: Omit<PodDeletionCostReporterOptions, 'podName' | 'namespace'> = {},
    inCluster = Boolean(process.env.KUBERNETES_SERVICE_HOST),
  ): PodDeletionCostReporter {
    const reachable = inCluster || options.kubeConfig !== undefined;
    if (!settings.podDeletionCostEnabled || !reachable || !settings.podName || !settings.podNamespace) {
      return new PodDeletionCostReporter({ logger: options.logger });
    }
    return new PodDeletionCostReporter({ ...options, podName: settings.podName, namespace: settings.podNamespace });
  }

  /** Whether this reporter talks to the API server at all (false: every method is a no-op). */
  get enabled(): boolean {
    return this.api !== undefined && !this.closed;
  }

  /** The cost the reporter would annotate for this many jobs in flight. */
  costFor(activeJobs: number): number {
    const cost = activeJobs > 0 ? this.busyCost + Math.floor(activeJobs) : this.idleCost;
    return Math.min(MAX_COST, Math.max(MIN_COST, Math.round(cost)));
  }

  /**
   * Records how many jobs this worker has in flight; the annotation follows within `minIntervalMs`.
   * Synchronous, cheap and never throws: call it on every job start and finish.
   *
   * @param count - jobs currently in flight in this process.
   */
  setActiveJobs(count: number): void {
    if (!this.enabled || !Number.isFinite(count)) return;
    this.desiredCost = this.costFor(count);
    this.schedule();
  }

  /** Stops reporting: cancels a pending update and aborts a PATCH already under way. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // Aborted rather than awaited: close() runs in the worker's drain, when this pod is going away. A terminating pod
    // is no longer a scale-in candidate, so its cost no longer matters, while every second spent here is taken from
    // the drain's budget (a hung API server would otherwise cost up to requestTimeoutMs).
    this.inFlightAbort?.abort(new Error('pod-deletion-cost reporter closed'));
    await this.inFlight;
  }

  private createApi(kubeConfig: KubeConfig | undefined): Promise<CoreV1Api | undefined> | undefined {
    const unavailable = (error: unknown) => {
      this.logger.warn('pod-deletion-cost: no Kubernetes API access; the annotation will not be maintained', {
        error: describeError(error),
      });
      this.api = undefined;
      return undefined;
    };
    // loadFromCluster() would happily build "https://undefined:undefined" outside a cluster.
    if (!kubeConfig && !process.env.KUBERNETES_SERVICE_HOST) {
      unavailable(new Error('KUBERNETES_SERVICE_HOST is not set (not in a cluster)'));
      return undefined;
    }
    return import('@kubernetes/client-node')
      .then(({ CoreV1Api: Api, KubeConfig: Config }) => {
        let config = kubeConfig;
        if (!config) {
          config = new Config();
          config.loadFromCluster();
        }
        return config.makeApiClient(Api);
      })
      .catch(unavailable);
  }

  /** Sends now, arms the timer for later, or does nothing (unchanged value, or a PATCH or timer already pending). */
  private schedule(): void {
    if (this.closed || this.timer || this.inFlight) return;
    if (this.desiredCost === undefined || this.desiredCost === this.sentCost) return;
    const wait = this.lastPatchAt + this.currentIntervalMs() - Date.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
    this.timer.unref();
  }

  private currentIntervalMs(): number {
    if (this.consecutiveFailures === 0) return this.minIntervalMs;
    const backoff = Math.max(this.minIntervalMs, 1000) * 2 ** Math.min(this.consecutiveFailures - 1, 16);
    return Math.min(MAX_RETRY_DELAY_MS, backoff);
  }

  private flush(): void {
    const cost = this.desiredCost;
    if (this.closed || cost === undefined || cost === this.sentCost) return;
    this.lastPatchAt = Date.now();
    const abort = new AbortController();
    this.inFlightAbort = abort;
    this.inFlight = this.patch(cost, abort).finally(() => {
      this.inFlight = undefined;
      this.inFlightAbort = undefined;
      this.schedule();
    });
  }

  private async patch(cost: number, abort: AbortController): Promise<void> {
    const timer = setTimeout(
      () => abort.abort(new Error(`no answer from the Kubernetes API within ${this.requestTimeoutMs} ms`)),
      this.requestTimeoutMs,
    );
    timer.unref();
    try {
      await abortable(this.send(cost, abort.signal), abort.signal);
      this.sentCost = cost;
      if (this.consecutiveFailures > 0) {
        this.logger.info('pod-deletion-cost: annotation updates work again', { cost, failures: this.consecutiveFailures });
      } else {
        this.logger.debug('pod-deletion-cost: annotation updated', { cost });
      }
      this.consecutiveFailures = 0;
    } catch (error) {
      if (this.closed && abort.signal.aborted) {
        this.logger.debug('pod-deletion-cost: annotation update abandoned on close', { cost });
        return;
      }
      // Whether the API server applied it is unknown (a PATCH answered after the timeout, or cut off after it was
      // sent, may have been stored): the annotation may hold `cost` now. Were the last acknowledged value kept, a pod
      // going back to it (busy, then idle again) would send nothing and keep a busy cost while idle.
      this.sentCost = undefined;
      this.consecutiveFailures += 1;
      const log = this.consecutiveFailures === 1 ? this.logger.warn : this.logger.debug;
      log.call(this.logger, 'pod-deletion-cost: annotation update failed; will retry', {
        cost,
        pod: this.podName,
        namespace: this.namespace,
        failures: this.consecutiveFailures,
        error: describeError(error),
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The PATCH itself; `signal` aborts the HTTP request (undici's fetch), so an abandoned one frees its socket. */
  private async send(cost: number, signal: AbortSignal): Promise<void> {
    const api = await this.api;
    if (!api || !this.podName || !this.namespace) return;
    const { Observable, PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
    const withSignal = {
      pre: (context: RequestContext) => {
        context.setSignal(signal);
        return new Observable(Promise.resolve(context));
      },
      post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
    };
    await api.patchNamespacedPod(
      {
        name: this.podName,
        namespace: this.namespace,
        body: { metadata: { annotations: { [POD_DELETION_COST_ANNOTATION]: String(cost) } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch, { middleware: [withSignal] }),
    );
  }
}

/**
 * `work`, or a rejection as soon as `signal` aborts, whichever comes first: the bound holds even where the signal
 * does not reach the request (e.g. while credentials are being loaded). `work` is still awaited by nobody then, so
 * its own rejection is swallowed.
 */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code === undefined ? error.message : `${String(code)}: ${error.message}`;
  }
  return String(error);
}
