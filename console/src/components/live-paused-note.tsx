import { useLayoutEffect, useRef } from 'preact/hooks';
import { focusFirstUsable } from '../focus.js';
import { formatNumber } from '../format.js';

/**
 * The events list's note that its live refresh paused past `limit` rows loaded, with the way back: the newest `newest`
 * rows, live again. Those rows remove the note with the button the operator pressed: the focus would fall to <body>
 * (Tab starting over from the top of the page, a screen reader saying nothing of where it is); it goes to
 * `focusAfter()` instead (the events table, which its caption names), else the view. A layout effect, as in
 * RetryNote: its cleanup runs while the button is still in the page and focused.
 */
export function LivePausedNote({
  limit,
  newest,
  onShowNewest,
  focusAfter,
}: {
  limit: number;
  newest: number;
  onShowNewest(): void;
  focusAfter(): HTMLElement | null;
}) {
  const buttonRef = useRef<HTMLButtonElement>(null);
  const focusAfterRef = useRef(focusAfter);
  focusAfterRef.current = focusAfter;
  useLayoutEffect(
    () => () => {
      const button = buttonRef.current;
      if (button && document.activeElement === button) setTimeout(() => !button.isConnected && focusFirstUsable(focusAfterRef.current()));
    },
    [],
  );
  return (
    <p class="notice live-paused">
      Live updates paused while more than {formatNumber(limit)} rows are loaded (refreshing them all would freeze the page).{' '}
      <button ref={buttonRef} type="button" class="button" onClick={onShowNewest}>
        Show the newest {formatNumber(newest)} (live again)
      </button>
    </p>
  );
}
