/**
 * Text from elsewhere (a destination's answer) put into a line the service writes (an event's `lastError`:
 * `hook: <error>; billing: <error>`), so that its direction characters stay inside it. A right-to-left override
 * (U+202E) in one destination's answer reorders everything after it in the line: the console and a terminal showed
 * "; billing: HTTP 503" backwards, and the answer could make the line say something it does not.
 *
 * Such text is put between U+2068 (first strong isolate) and U+2069 (pop directional isolate), which end every
 * embedding and override it opened. What would end that isolate early is taken out first: a U+2069 with no isolate
 * of its own to close, and a paragraph separator (U+2029, U+0085, U+001C–U+001E: a space instead), which ends every
 * isolate; and an isolate it opens and leaves open is closed before the U+2069 that ends its own. Text with none of
 * the explicit direction characters is returned as it is (an ordinary error reads the same byte for byte). The
 * console isolates what it shows the same way, with the same {@link isolatable}
 * (console/src/components/isolated-text.tsx).
 */

/** The explicit direction formatting characters (embeddings, overrides, isolates, marks) and paragraph separators. */
const DIRECTIONAL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u2029\u0085\u001C-\u001E]/;
/** What {@link isolatable} changes: isolate initiators and U+2069 (counted), paragraph separators. */
const ISOLATE_BREAKERS = /[\u2066-\u2069\u2029\u0085\u001C-\u001E]/;
const PARAGRAPH_SEPARATORS = /[\u2029\u0085\u001C-\u001E]/g;
const LRI = '\u2066';
const FSI = '\u2068';
const PDI = '\u2069';

/** `text` isolated (null as it is). */
export function bidiIsolated<T extends string | null>(text: T): T {
  if (text === null || !DIRECTIONAL.test(text)) return text;
  return `${FSI}${isolatable(text)}${PDI}` as T;
}

/**
 * `text` as it can be put inside an isolate (the worker's U+2068…U+2069, the console's <bdi>) without ending it early
 * or leaving it open: paragraph separators as spaces, each U+2069 it did not open taken out, and each isolate it opens
 * and leaves open closed at its end (else that isolate would take the closing U+2069 as its own, and the one around
 * the text would stay open to the end of the line, the rest of it inside). Isolates it opens and closes itself are
 * kept, so right-to-left text in it shows as its writer meant. Text with none of those characters is returned as it is.
 */
export function isolatable(text: string): string {
  if (!ISOLATE_BREAKERS.test(text)) return text;
  let open = 0;
  let inner = '';
  for (const char of text.replace(PARAGRAPH_SEPARATORS, ' ')) {
    if (char >= LRI && char <= FSI) open += 1;
    else if (char === PDI) {
      if (open === 0) continue;
      open -= 1;
    }
    inner += char;
  }
  return `${inner}${PDI.repeat(open)}`;
}
