import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';

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
}

/**
 * A modal confirmation on the native <dialog>: focus moves into it and stays there, Escape cancels, focus returns
 * to the control that opened it.
 */
export function ConfirmDialog(props: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
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
      opener?.focus?.();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby={titleId} aria-describedby={bodyId}>
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
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
