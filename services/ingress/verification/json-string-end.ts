/** Whether the character at `index` follows an odd number of backslashes. */
function isEscaped(text: string, index: number): boolean {
  let backslashes = 0;
  while (text.charCodeAt(index - 1 - backslashes) === 0x5c) backslashes++;
  return backslashes % 2 === 1;
}

/**
 * The index of the quote that closes the JSON string opening at `openQuote` (the first one after it not escaped, i.e.
 * not after an odd run of backslashes), or -1 when there is none. For walks over JSON text that must skip strings.
 */
export function closingQuoteOf(text: string, openQuote: number): number {
  let end = text.indexOf('"', openQuote + 1);
  while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
  return end;
}
