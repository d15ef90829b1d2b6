/**
 * JSON text laid out as `JSON.stringify(value, null, 2)` lays it out, but from the text itself: numbers, strings (their
 * escapes) and the order and repetition of keys stay as they were sent. Parsing first and printing the value would
 * round an integer beyond 2^53 (12345678901234567890 becomes 12345678901234567000), drop a number's trailing zeros
 * (10.50 becomes 10.5) and move integer-like keys first: the operator would read, and copy, what the provider did not
 * send.
 *
 * Returns undefined when `text` is not JSON (the caller shows something else then).
 */
export function reindentJson(text: string): string | undefined {
  try {
    JSON.parse(text);
  } catch {
    return undefined;
  }
  // Valid JSON from here: only the layout changes; every token is copied as it is.
  const out: string[] = [];
  const newline = (depth: number) => out.push('\n', '  '.repeat(depth));
  let depth = 0;
  let i = 0;
  const n = text.length;
  const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  while (i < n) {
    const c = text[i]!;
    if (isSpace(c)) {
      i += 1;
    } else if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      out.push(text.slice(i, end + 1));
      i = end + 1;
    } else if (c === '{' || c === '[') {
      let next = i + 1;
      while (next < n && isSpace(text[next]!)) next += 1;
      if (text[next] === (c === '{' ? '}' : ']')) {
        // Empty, as JSON.stringify writes it: {} and [].
        out.push(c === '{' ? '{}' : '[]');
        i = next + 1;
      } else {
        out.push(c);
        depth += 1;
        newline(depth);
        i += 1;
      }
    } else if (c === '}' || c === ']') {
      depth -= 1;
      newline(depth);
      out.push(c);
      i += 1;
    } else if (c === ',') {
      out.push(',');
      newline(depth);
      i += 1;
    } else if (c === ':') {
      out.push(': ');
      i += 1;
    } else {
      // A number, true, false or null: up to the next structural character or space, as sent.
      let end = i + 1;
      while (end < n && !isSpace(text[end]!) && !',:]}'.includes(text[end]!)) end += 1;
      out.push(text.slice(i, end));
      i = end;
    }
  }
  return out.join('');
}
