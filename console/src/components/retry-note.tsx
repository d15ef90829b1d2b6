import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { focusFirstUsable } from '../focus.js';
import { formatTimeSeconds } from '../format.js';
import type { Retry } from '../retry-backoff.js';

/**
 * Under a failed load's error: when the console tries again (the wait grows while the service keeps failing), and a
 * "Retry now" button for the operator who knows the service is back and need not sit out a wait of up to 30 s (or a
 * Retry-After). Not in the error's alert: a live region would announce every new time, and the error itself is what
 * matters to hear. `data-delay-ms`: the wait chosen, for the browser tests.
 */
export function RetryNote({ retry, onRetryNow }: { retry?: Retry; onRetryNow?: () => void }) {
  // The retry the button was pressed for: disabled until that try fails (a new retry) or succeeds (the note goes), so
  // that pressing again does not start a second load while the first is under way.
  const [asked, setAsked] = useState<Retry | undefined>(undefined);
  const buttonRef = useRef<HTMLButtonElement>(null);
  // A success removes the note with the button the operator pressed: the focus would fall to <body> (Tab starting
  // over from the top of the page); it goes to the view instead. A layout effect: its cleanup runs while the button
  // is still in the page and focused (a passive one runs after the removal, the focus already on <body>).
  useLayoutEffect(
    () => () => {
      const button = buttonRef.current;
      if (button && document.activeElement === button) setTimeout(() => !button.isConnected && focusFirstUsable());
    },
    [],
  );
  if (!retry) return null;
  const pending = asked === retry;
  return (
    <p class="hint retry-note" data-delay-ms={retry.delayMs}>
      Trying again at <time dateTime={new Date(retry.at).toISOString()}>{formatTimeSeconds(retry.at)}</time>.
      {onRetryNow && (
        <>
          {' '}
          <button
            ref={buttonRef}
            type="button"
            class="button button--quiet button--small"
            // Not `disabled`: a disabled button drops the focus; aria-disabled keeps it where the operator left it.
            aria-disabled={pending}
            onClick={() => {
              if (pending) return;
              setAsked(retry);
              onRetryNow();
            }}
          >
            {pending ? 'Retrying…' : 'Retry now'}
          </button>
        </>
      )}
    </p>
  );
}
