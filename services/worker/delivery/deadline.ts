/** Thrown by {@link withinDeadline} when the time is up before the work settled. */
export class DeadlineExceededError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * `work`'s outcome, or a {@link DeadlineExceededError} after `timeoutMs`. The work is not cancelled (a broker may
 * still confirm later: at least once), and its late failure is not left unhandled.
 *
 * With `expiry`, the work is told when its time is up (aborted with the {@link DeadlineExceededError}), so it writes
 * nothing more, and is given until the next turn of the event loop to end with its own reason (a publish that was
 * still waiting to be written says why) before the deadline's error stands.
 */
export async function withinDeadline<T>(work: Promise<T>, timeoutMs: number, expiry?: AbortController): Promise<T> {
  work.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new DeadlineExceededError(timeoutMs);
      if (!expiry) return reject(error);
      expiry.abort(error);
      setImmediate(() => reject(error));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A one-shot signal that waiting work can stop on: the connection classes fail it when the broker turns out to be
 * unreachable (or blocks publishing), so publishes waiting for a connection end at once instead of at their deadline.
 *
 * Waiters listen only while they wait ({@link untilInterrupted}). A signal stays pending for as long as the
 * connection stays up, and a promise raced against it (`Promise.race([work, signal])`) leaves its reaction on it
 * until it settles: with the race's promises and closures, about 1.2 KB per RabbitMQ publish, kept until the next
 * outage, i.e. memory growing with every event delivered.
 */
export class FailureSignal {
  private readonly listeners = new Set<(error: Error) => void>();
  private error?: Error;

  /** Fails the signal: every listener hears `error` once, and any that listens later hears it at once. */
  fail(error: Error): void {
    if (this.error) return;
    this.error = error;
    const listeners = [...this.listeners];
    this.listeners.clear();
    for (const listener of listeners) listener(error);
  }

  /** Calls `listener` when the signal fails (at once when it has); returns how to stop listening. */
  listen(listener: (error: Error) => void): () => void {
    if (this.error) {
      listener(this.error);
      return () => undefined;
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export function failureSignal(): FailureSignal {
  return new FailureSignal();
}

/**
 * `work`'s outcome, unless one of `signals` fails first (its error), or `expired` is aborted first (`onExpiry()`'s
 * error, or the abort's reason). It listens to the signals and the abort only while it waits, so nothing of it stays
 * behind on a signal that never fails. `work`'s late failure is not left unhandled.
 */
export function untilInterrupted<T>(work: Promise<T>, signals: readonly FailureSignal[], expired?: AbortSignal, onExpiry?: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let ended = false;
    const stops: (() => void)[] = [];
    const end = (settle: () => void) => {
      if (ended) return;
      ended = true;
      for (const stop of stops.splice(0)) stop();
      settle();
    };
    const interrupt = (error: unknown) => end(() => reject(error));
    // A signal that failed already interrupts at once: the ones after it are not listened to.
    for (const signal of signals) if (!ended) stops.push(signal.listen(interrupt));
    if (expired && !ended) {
      const onAbort = () => interrupt(onExpiry ? onExpiry() : expired.reason);
      if (expired.aborted) onAbort();
      else {
        expired.addEventListener('abort', onAbort, { once: true });
        stops.push(() => expired.removeEventListener('abort', onAbort));
      }
    }
    work.then((value) => end(() => resolve(value)), interrupt);
  });
}
