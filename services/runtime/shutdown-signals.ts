import type { Logger } from '../shared/logging/logger.js';
import { flushLogs } from '../shared/logging/logger.js';
import { flushTracing } from '../shared/telemetry/tracing-state.js';

export interface ShutdownSignalOptions {
  /** Longest drain before a forced exit (SHUTDOWN_TIMEOUT_MS), counted from the first signal. */
  timeoutMs: number;
  logger: Logger;
}

/** What the entry point tells the signal handling as the start goes on. */
export interface ShutdownSignals {
  /**
   * Aborted by a signal that arrives before the service runs: the start's waits for PostgreSQL stop on it
   * (StartAbortedError), so a pod deleted while its database is unreachable does not wait out STARTUP_WAIT_MS.
   */
  readonly abortStart: AbortSignal;
  /** The service runs: a signal drains it with `shutdown` (at once, if one came while it was starting). */
  serviceRunning(shutdown: () => Promise<void>): void;
  /** The start stopped on {@link abortStart}: nothing was accepted, so nothing to drain; exits 0. */
  exitAfterAbortedStart(): Promise<never>;
}

/**
 * How long spans still buffered may take to reach the collector once the drain is done. The OTLP exporter would
 * wait out its own timeout (10 s by default) for a collector that does not answer, holding the exit past the
 * pod's grace period; the spans are worth less than a clean, prompt exit.
 */
export const TRACE_FLUSH_TIMEOUT_MS = 2000;

/**
 * SIGTERM or SIGINT starts a graceful drain and exits 0 when it completes. If the drain outlasts `timeoutMs`,
 * or a second signal arrives, the process exits 1 at once; whatever was cut off is retried later (stalled jobs
 * return to the queue, unanswered webhooks are re-sent by their provider), never lost.
 * Installed before the start, so a signal while the start waits for PostgreSQL stops it (exit 0 with a log line)
 * rather than Node's default action (killed by the signal, no word why); one during the rest of the start drains
 * the service as soon as it runs.
 */
export function installShutdownSignals(options: ShutdownSignalOptions): ShutdownSignals {
  const startAbort = new AbortController();
  let received: NodeJS.Signals | undefined;
  let shutdown: (() => Promise<void>) | undefined;
  let forced: NodeJS.Timeout | undefined;

  const exitCleanly = async (): Promise<never> => {
    clearTimeout(forced);
    if (!(await settlesWithin(flushTracing(), TRACE_FLUSH_TIMEOUT_MS))) {
      options.logger.warn('trace export did not finish in time; buffered spans dropped', { timeoutMs: TRACE_FLUSH_TIMEOUT_MS });
    }
    await flushLogs();
    process.exit(0);
  };
  const drain = (drainService: () => Promise<void>) => {
    drainService()
      .then(exitCleanly)
      .catch(async (error: unknown) => {
        options.logger.error('shutdown failed', { error });
        await flushLogs();
        process.exit(1);
      });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      options.logger.warn('second signal: forcing exit', { signal });
      process.exit(1);
    }
    received = signal;
    forced = setTimeout(() => {
      options.logger.error('drain did not finish in time: forcing exit', { timeoutMs: options.timeoutMs });
      process.exit(1);
    }, options.timeoutMs);
    forced.unref();
    if (shutdown) {
      options.logger.info('signal received: draining', { signal, timeoutMs: options.timeoutMs });
      drain(shutdown);
    } else {
      options.logger.info('signal received while starting: stopping the start', { signal, timeoutMs: options.timeoutMs });
      startAbort.abort();
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  return {
    abortStart: startAbort.signal,
    serviceRunning(drainService) {
      shutdown = drainService;
      if (received) {
        options.logger.info('started after a signal: draining', { signal: received });
        drain(drainService);
      }
    },
    exitAfterAbortedStart() {
      options.logger.info('start stopped by a signal before anything was accepted: exiting', { signal: received });
      return exitCleanly();
    },
  };
}

/** Whether `work` settles (either way) within `ms`; the timer does not keep the process alive. */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work.then(() => true, () => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
