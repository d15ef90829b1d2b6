import { useEffect, useRef, useState } from 'preact/hooks';

/** A text field's draft: what it shows, and the ways it changes. */
export interface Draft {
  /** What the field shows. */
  text: string;
  /** The user edited the field. */
  edit(next: string): void;
  /**
   * The field's text was sent (it is on its way into the URL): when the URL's value comes back, it replaces this text,
   * but not text typed after it was sent.
   */
  sent(text: string): void;
  /** The field shows `text` now, whatever it held ("Clear filters": the new value, in the same rendering as the other fields). */
  reset(text: string): void;
}

/**
 * A text field's value while the user edits it, over a value kept elsewhere (a filter in the URL). When that value
 * changes (a search they ran, back/forward, "Clear filters"), the field shows the new one if it still holds what was
 * sent, or what it was given last (untouched); text typed since is the user's and stays. Reset on every change, a
 * search typed after Enter, before the URL's update came back (a busy machine, a slow rendering), was wiped.
 * The field stays the same element throughout: re-keying it on the value remounted it whenever a search ran, and
 * the keyboard focus fell to <body>.
 */
export function useDraft(value: string): Draft {
  const [text, setText] = useState(value);
  /** The value the field was last given: a field still holding it is untouched. */
  const givenRef = useRef(value);
  /** The field's text when it was last sent, until the value it sent comes back. */
  const sentRef = useRef<string | undefined>(undefined);
  useEffect(() => {
    const given = givenRef.current;
    const sent = sentRef.current;
    givenRef.current = value;
    sentRef.current = undefined;
    // The text as it is now (typed after this rendering too), not as this rendering saw it.
    setText((current) => (current === given || current === sent ? value : current));
  }, [value]);
  return {
    text,
    edit: setText,
    sent: (sentText) => {
      sentRef.current = sentText;
    },
    reset: (next) => {
      sentRef.current = undefined;
      setText(next);
    },
  };
}
