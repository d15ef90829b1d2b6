import { Fragment } from 'preact';
import { isolatable } from '../../../services/shared/text/bidi-isolated.js';

/**
 * Text the console did not write (a sender's event type and id, a destination's answer in an error, a header, a
 * destination's name or URL) shown so that its direction characters stay inside it. A right-to-left override
 * (U+202E) reorders everything after it in its paragraph: unisolated, an error "x\u202E" followed by the console's
 * "; billing: HTTP 503" or a tag reads backwards, and a value can make the text around it say something else.
 *
 * `<bdi>` isolates the value (its direction from its own first strong letter, its overrides ended at its end), but a
 * value can still break out: Chromium lays out a <bdi> as if its text were between an isolate initiator and U+2069
 * (pop directional isolate), so a U+2069 in the value with no isolate of its own to close ends the <bdi>'s isolate
 * early, and a paragraph separator (U+2029, U+0085, U+001C–U+001E) ends every isolate and override in effect. Those
 * are taken out first (the separators shown as a space, as a line break in running text is), and an isolate the value
 * leaves open is closed at its end: {@link isolatable}, which the worker's lastError uses too (bidi-isolated.ts).
 */
export function IsolatedText({ text }: { text: string }) {
  return <bdi>{isolatable(text)}</bdi>;
}

/** `items` joined with ", ", each isolated: a right-to-left override in one cannot reorder the others. */
export function IsolatedList({ items }: { items: string[] }) {
  return (
    <>
      {items.map((item, index) => (
        <Fragment key={index}>
          {index > 0 && ', '}
          <IsolatedText text={item} />
        </Fragment>
      ))}
    </>
  );
}
