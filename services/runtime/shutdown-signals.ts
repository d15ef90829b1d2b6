import type { Logger } from '../shared/logging/logger.js';
import { flushLogs } from '../shared/logging/logger.js';
import { flushTracing } from '../shared/telemetry/tracing-state.js';

export interface ShutdownSignalOptions {
  shutdown: () => Promise<void>;
  /** Longest drain before a forced exit (SHUTDOWN_TIMEOUT_MS). */
  timeoutMs: number;
  logger: Logger;
}

/**
 * SIGTERM or SIGINT starts a graceful drain and exits 0 when it completes. If the drain outlasts `timeoutMs`,
 * or a second signal arrives, the process exits 1 at once; whatever was cut off is retried later (stalled jobs
 * return to the queue, unanswered webhooks are re-sent by their provider), never lost.
 */
/**
 * How long spans still buffered may take to reach the collector once the drain is done. The OTLP exporter would
 * wait out its own timeout (10 s by default) for a collector that does not answer, holding the exit past the
 * pod's grace period; the spans are worth less than a clean, prompt exit.
 */
export const TRACE_FLUSH_TIMEOUT_MS = 2000;

export function installShutdownSignals(options: ShutdownSignalOptions): void {
  let draining = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (draining) {
      options.logger.warn('second signal: forcing exit', { signal });
      process.exit(1);
    }
    draining = true;
    options.logger.info('signal received: draining', { signal, timeoutMs: options.timeoutMs });
    const forced = setTimeout(() => {
      options.logger.error('drain did not finish in time: forcing exit', { timeoutMs: options.timeoutMs });
      process.exit(1);
    }, options.timeoutMs);
    forced.unref();
    options
      .shutdown()
      .then(async () => {
        clearTimeout(forced);
        if (!(await settlesWithin(flushTracing(), TRACE_FLUSH_TIMEOUT_MS))) {
          options.logger.warn('trace export did not finish in time; buffered spans dropped', { timeoutMs: TRACE_FLUSH_TIMEOUT_MS });
        }
        await flushLogs();
        process.exit(0);
      })
      .catch(async (error: unknown) => {
        options.logger.error('shutdown failed', { error });
        await flushLogs();
        process.exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
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
