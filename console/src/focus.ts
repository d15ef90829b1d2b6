/**
 * Focuses the first of `candidates` that takes the focus: one that is gone from the page, disabled or hidden does
 * not, and the focus would otherwise fall to <body> (where Tab starts again from the top of the page). The page's
 * main region (tabindex=-1) is the last resort. Returns the element focused.
 */
export function focusFirstUsable(...candidates: (HTMLElement | null | undefined)[]): HTMLElement | null {
  for (const candidate of [...candidates, document.querySelector<HTMLElement>('main')]) {
    if (!candidate?.isConnected) continue;
    candidate.focus();
    if (document.activeElement === candidate) return candidate;
  }
  return null;
}
