import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';
import { focusFirstUsable } from '../focus.js';

export interface ConfirmDialogProps {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  /** Called with the dialog still open; it closes when the promise settles (an error is shown by the caller). */
  onConfirm(): Promise<void> | void;
  onClose(): void;
  busy?: boolean;
  /** Disables the confirm button (e.g. nothing to act on). */
  disabled?: boolean;
  /**
   * Where the focus goes once the confirmed action is done, instead of back to the opener: the action's outcome (a
   * notice) when the action disables the opener, at once or on the view's next refresh (a replayed event is in
   * progress). Null or unset: the opener. Not used when the dialog is cancelled.
   */
  focusAfterConfirm?(): HTMLElement | null;
}

/**
 * A modal confirmation on the native <dialog>: focus moves into it and stays there, Escape cancels, focus returns
 * to the control that opened it, or where the view says after a confirmed action. When that cannot take the focus
 * (disabled or gone), it goes to the page's main region rather than falling to <body>.
 */
export function ConfirmDialog(props: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  // The props of the last render, for the close: the effect below runs once, with the first render's props.
  const latest = useRef(props);
  latest.current = props;
  const confirmed = useRef(false);
  const titleId = useId();
  const bodyId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement as HTMLElement | null;
    dialog.showModal();
    const onCancel = (event: Event) => {
      event.preventDefault();
      props.onClose();
    };
    dialog.addEventListener('cancel', onCancel);
    return () => {
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      // Once the render that closed the dialog is done: it may also have disabled or removed the opener (the
      // selection it acted on was cleared), and the outcome notice focused after a confirm is only there then.
      queueMicrotask(() => focusFirstUsable(confirmed.current ? latest.current.focusAfterConfirm?.() : null, opener));
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby={titleId} aria-describedby={bodyId}>
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          confirmed.current = true;
          void props.onConfirm();
        }}
      >
        <h2 id={titleId}>{props.title}</h2>
        <div id={bodyId} class="dialog__body">
          {props.children}
        </div>
        <div class="dialog__actions">
          <button type="button" class="button" onClick={() => props.onClose()} disabled={props.busy}>
            Cancel
          </button>
          <button type="submit" class="button button--primary" disabled={props.busy || props.disabled} autoFocus>
            {props.busy ? 'Working…' : props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
