import { Fragment } from 'preact';

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
 * are taken out first (the separators shown as a space, as a line break in running text is); isolates the value
 * opens and closes itself are kept, so right-to-left text in it shows as its writer meant.
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

const LRI = 0x2066;
const FSI = 0x2068;
const PDI = '\u2069';
const PARAGRAPH_SEPARATORS = /[\u2029\u0085\u001C-\u001E]/g;

/** `text` without what would end an isolate around it: paragraph separators (as spaces), and each U+2069 it did not open. */
export function isolatable(text: string): string {
  if (!/[\u2066-\u2069\u2029\u0085\u001C-\u001E]/.test(text)) return text;
  let open = 0;
  let out = '';
  for (const char of text.replace(PARAGRAPH_SEPARATORS, ' ')) {
    const code = char.charCodeAt(0);
    if (code >= LRI && code <= FSI) open += 1;
    else if (char === PDI) {
      if (open === 0) continue;
      open -= 1;
    }
    out += char;
  }
  return out;
}
