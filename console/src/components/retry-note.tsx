import { formatTimeSeconds } from '../format.js';
import type { Retry } from '../retry-backoff.js';

/**
 * Under a failed load's error: when the console tries again (the wait grows while the service keeps failing). Not in
 * the error's alert: a live region would announce every new time, and the error itself is what matters to hear.
 * `data-delay-ms`: the wait chosen, for the browser tests.
 */
export function RetryNote({ retry }: { retry?: Retry }) {
  if (!retry) return null;
  return (
    <p class="hint retry-note" data-delay-ms={retry.delayMs}>
      Trying again at <time dateTime={new Date(retry.at).toISOString()}>{formatTimeSeconds(retry.at)}</time>.
    </p>
  );
}
