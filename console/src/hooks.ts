import { useEffect, useRef, useState } from 'preact/hooks';
import { retryAfterFailure, type Retry } from './retry-backoff.js';

/** Resolves when the page is visible (at once if it is): polls wait while the tab is in the background. */
export function whenVisible(): Promise<void> {
  if (document.visibilityState === 'visible') return Promise.resolve();
  return new Promise((resolve) => {
    const listener = () => {
      if (document.visibilityState !== 'visible') return;
      document.removeEventListener('visibilitychange', listener);
      resolve();
    };
    document.addEventListener('visibilitychange', listener);
  });
}

export interface Polled<T> {
  data?: T;
  error?: Error;
  loading: boolean;
  /** When the last answer arrived (ms since the epoch). */
  checkedAt?: number;
  /** After a failure: when the next try is due (ms since the epoch) and the wait chosen (see retry-backoff.ts). */
  retry?: Retry;
  refresh(): void;
  /**
   * After a failure that is tried again on its own (`retry` set): tries at once instead of at `retry.at` (the operator
   * knows the service is back). A success goes back to the interval and starts the waits over, as any success does.
   */
  retryNow(): void;
}

export interface PolledOptions {
  /**
   * A refresh that brings the same data back (the same object: the API client returns its cached answer on a 304)
   * changes nothing, so the view is not rendered again; `checkedAt` then keeps the time of the last change. For views
   * whose render is costly (an event's large payload); views that show when they last checked leave it off.
   */
  skipUnchanged?: boolean;
}

/**
 * Loads `load()` now and again every `intervalMs` (null: once) while the tab is visible; a change in `deps` starts
 * over, without the data loaded for the `deps` before. A failed load keeps the last data, reports the error and is
 * tried again, a load once too, after a wait that grows with each failure in a row, or the answer's Retry-After when
 * longer (failedLoadDelayMs), instead of the interval; the next success clears the error and goes back to the interval. A request the admin API refuses as such
 * (a 4xx but 408 and 429: retriesOnItsOwn) is not asked again until `deps` change. `retryNow()` cuts a retry's wait
 * short (the "Retry now" button under the error).
 */
export function usePolled<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], intervalMs: number | null, options: PolledOptions = {}): Polled<T> {
  const [state, setState] = useState<Omit<Polled<T>, 'refresh' | 'retryNow'>>({ loading: true });
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  /** Set while a failed load waits for its retry: runs it now. */
  const retryNowRef = useRef<(() => void) | undefined>(undefined);
  /** The `deps` the data held was loaded for. */
  const loadedFor = useRef<unknown[]>(deps);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const controller = new AbortController();
    /** Failed loads in a row. */
    let failures = 0;
    // Data loaded for other `deps` (another filter, another provider) is not this load's: dropped, not shown under the
    // new ones until they load, or for good should their load fail (a retry shows no data of its own). A refresh or a
    // new interval keeps it.
    const sameDeps = deps.length === loadedFor.current.length && deps.every((dep, index) => Object.is(dep, loadedFor.current[index]));
    loadedFor.current = deps;
    setState((previous) => (sameDeps ? { ...previous, loading: true } : { loading: true }));
    const run = async () => {
      retryNowRef.current = undefined;
      await whenVisible();
      if (stopped) return;
      try {
        const data = await loadRef.current(controller.signal);
        if (stopped) return;
        failures = 0;
        setState((previous) =>
          options.skipUnchanged && previous.data === data && !previous.error && !previous.loading ? previous : { data, loading: false, checkedAt: Date.now() },
        );
      } catch (error) {
        if (stopped || (error as Error).name === 'AbortError') return;
        failures += 1;
        const now = Date.now();
        const retry = retryAfterFailure(failures, error, now);
        setState((previous) => ({ ...previous, error: error as Error, loading: false, checkedAt: now, retry }));
        if (retry) {
          timer = setTimeout(run, retry.delayMs);
          retryNowRef.current = () => {
            clearTimeout(timer);
            void run();
          };
        }
        return;
      }
      if (intervalMs !== null) timer = setTimeout(run, intervalMs);
    };
    void run();
    return () => {
      stopped = true;
      retryNowRef.current = undefined;
      clearTimeout(timer);
      controller.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, generation, intervalMs]);

  // Only while a retry waits: once it runs (on its own or from here) there is none, so a second click does not start
  // a second load alongside it.
  return { ...state, refresh: () => setGeneration((value) => value + 1), retryNow: () => retryNowRef.current?.() };
}
