/**
 * Characters drawn as nothing at all (Unicode's default-ignorable code points: a zero-width space, a zero-width
 * joiner, a soft hyphen, a byte order mark, a variation selector, a tag character), other than the direction
 * characters, which IsolatedText keeps working inside their isolate. In text from elsewhere they make two different
 * values look the same: an event type "invoice.pa\u200Bid" read as "invoice.paid", a provider's id "evt_1\u200B23" as
 * "evt_123" (which the search box then did not find).
 */
const INVISIBLE = /(?![\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069])\p{Default_Ignorable_Code_Point}/u;

/** A piece of text: as it is, or one invisible character with its code point written out (`U+200B`). */
export type TextPiece = string | { char: string; code: string };

/** `text` cut around its invisible characters; text without any comes back as one piece. */
export function invisiblesApart(text: string): TextPiece[] {
  if (!INVISIBLE.test(text)) return [text];
  const pieces: TextPiece[] = [];
  let from = 0;
  for (const match of text.matchAll(new RegExp(INVISIBLE, 'gu'))) {
    if (match.index > from) pieces.push(text.slice(from, match.index));
    const char = match[0];
    pieces.push({ char, code: `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` });
    from = match.index + char.length;
  }
  if (from < text.length) pieces.push(text.slice(from));
  return pieces;
}
