import { useEffect, useState } from 'preact/hooks';

/**
 * A text field's value while the user edits it, over a value kept elsewhere (a filter in the URL). The field is the
 * user's until that value changes (a search they ran, back/forward, "Clear filters"), and then shows the new one.
 * The field stays the same element throughout: re-keying it on the value remounted it whenever a search ran, and
 * the keyboard focus fell to <body>.
 */
export function useDraft(value: string): [draft: string, setDraft: (next: string) => void] {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  return [draft, setDraft];
}
