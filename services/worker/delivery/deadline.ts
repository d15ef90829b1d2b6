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

/** A promise that rejects when {@link FailureSignal.fail} is called (its rejection is never left unhandled). */
export interface FailureSignal {
  readonly failed: Promise<never>;
  fail(error: Error): void;
}

/**
 * A one-shot signal that waiting work can race against: the connection classes fail it when the broker turns out to
 * be unreachable, so publishes waiting for a connection end at once instead of at their deadline.
 */
export function failureSignal(): FailureSignal {
  let fail!: (error: Error) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => undefined);
  return { failed, fail };
}
